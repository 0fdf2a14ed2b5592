"""Organiser routes: the programme (API.md "Organiser: the programme").

The body is declared (`data`) for the OpenAPI document; run_command decodes it again strictly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request, Response, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from registry.api.commands import run_command
from registry.api.lifespan import Resources
from registry.auth.guards import organiser_only
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain import programme_changes as changes
from registry.domain.event import Event
from registry.domain.programme import Programme
from registry.eventstore import AppendResult
from registry.handlers import programme as handlers
from registry.handlers.context import Answer, CommandContext

Req = Request[Any, Any, Any]
C = TypeVar("C", bound=cmd.Command)
With = NamedDependency[Resources]


class Empty(cmd.Command, frozen=True, kw_only=True):
    """A body of `{}` (unknown fields refused)."""


@post("/events", status_code=201, before_request=organiser_only, tags=["organiser"])
async def create_event(
    request: Req, resources: With, data: JSONBody[cmd.CreateEvent]
) -> Response[Any]:
    """Create an event; its registration is closed until opened."""
    create = lambda ctx, c: handlers.create_event(resources.keeper, ctx, c)  # noqa: E731
    return await run_command(request, resources.keeper, cmd.CreateEvent, create)


@post(
    "/events/{event:str}/rooms", status_code=201, before_request=organiser_only, tags=["organiser"]
)
async def add_room(
    request: Req, event: FromPath[str], resources: With, data: JSONBody[cmd.AddRoom]
) -> Response[Any]:
    """Add a room (a bus or a walk's group is a room too)."""
    return await _change(request, resources, event, cmd.AddRoom, rules.decide_add_room, 201)


@post(
    "/events/{event:str}/sessions",
    status_code=201,
    before_request=organiser_only,
    tags=["organiser"],
)
async def schedule_session(
    request: Req,
    event: FromPath[str],
    resources: With,
    data: JSONBody[cmd.ScheduleSession],
) -> Response[Any]:
    """Schedule a session; its capacity defaults to its room's."""
    return await _change(
        request,
        resources,
        event,
        cmd.ScheduleSession,
        rules.decide_schedule,
        201,
        _id_of,
    )


@put(
    "/events/{event:str}/programme",
    status_code=200,
    before_request=organiser_only,
    tags=["organiser"],
)
async def replace_programme(
    request: Req,
    event: FromPath[str],
    resources: With,
    data: JSONBody[cmd.ReplaceProgramme],
) -> Response[Any]:
    """The whole programme in one command: new ids are added, known ids updated."""
    return await _change(request, resources, event, cmd.ReplaceProgramme, rules.decide_replace, 200)


@post(
    "/events/{event:str}/registration/open",
    status_code=200,
    before_request=organiser_only,
    tags=["organiser"],
)
async def open_registration(
    request: Req, event: FromPath[str], resources: With, data: JSONBody[Empty]
) -> Response[Any]:
    """Open registration (opening an open event writes nothing)."""
    return await _change(
        request, resources, event, Empty, lambda p, _: rules.decide_registration(p, True)
    )


@post(
    "/events/{event:str}/registration/close",
    status_code=200,
    before_request=organiser_only,
    tags=["organiser"],
)
async def close_registration(
    request: Req,
    event: FromPath[str],
    resources: With,
    data: JSONBody[cmd.CloseRegistration],
) -> Response[Any]:
    """Close registration now (closing a closed event writes nothing), or at `at` by itself;
    cancellations stay possible."""
    return await _change(
        request,
        resources,
        event,
        cmd.CloseRegistration,
        lambda p, c: changes.decide_close_registration(p, c, dt.datetime.now(dt.UTC)),
    )


def _no_body(_: object) -> dict[str, object]:
    return {}


def _id_of(command: cmd.AddRoom | cmd.ScheduleSession) -> dict[str, object]:
    return {"id": command.id}


async def _change(
    request: Req,
    resources: Resources,
    event: str,
    command_type: type[C],
    decide: Callable[[Programme, C], list[Event]],
    status: int = 200,
    body_of: Callable[[C], dict[str, object]] = _no_body,
) -> Response[Any]:
    """A programme change: decide on the programme read from the log, append, answer."""
    keeper = resources.keeper

    async def handle(ctx: CommandContext, command: C) -> tuple[Answer, AppendResult]:
        return await handlers.change_programme(
            keeper,
            ctx,
            event,
            lambda programme: decide(changes.not_cancelled(programme), command),
            status,
            body_of(command),
        )

    return await run_command(request, keeper, command_type, handle)


ROUTES = (
    create_event,
    add_room,
    schedule_session,
    replace_programme,
    open_registration,
    close_registration,
)
