"""Organiser routes that move seats (API.md "Organiser: the programme"): a session's capacity,
room, times or mode; cancel; merge; the whole event cancelled or turned online. Each runs in the
gate's fence (handlers/organiser_changes.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request, Response, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from registry.api.commands import run_command
from registry.api.lifespan import Resources
from registry.auth.guards import organiser_only
from registry.domain import commands as cmd
from registry.domain import programme_changes as rules
from registry.domain.programme import Programme
from registry.domain.programme_changes import Outcome
from registry.domain.seating import Seating
from registry.eventstore import AppendResult
from registry.handlers.context import Answer, CommandContext
from registry.handlers.organiser_changes import change_seats

Req = Request[Any, Any, Any]
C = TypeVar("C", bound=cmd.Command)
With = NamedDependency[Resources]
SESSION = "/events/{event:str}/sessions/{session:str}"
OPTS: dict[str, Any] = {"status_code": 200, "before_request": organiser_only, "tags": ["organiser"]}


@patch(SESSION, **OPTS)
async def patch_session(
    request: Req, event: FromPath[str], session: FromPath[str],
    resources: With, data: JSONBody[cmd.PatchSession],
) -> Response[Any]:  # fmt: skip
    """Change a session's title, times, room, capacity or mode: nobody loses a seat (a session
    over capacity admits no one until below), a raised capacity promotes the waitlist, and
    overlapping seats after a move are reported as conflicts."""
    decide = lambda c: lambda p, s: rules.decide_patch(p, s, session, c)  # noqa: E731
    return await _run(request, resources, event, cmd.PatchSession, decide)


@post(SESSION + "/cancel", **OPTS)
async def cancel_session(
    request: Req, event: FromPath[str], session: FromPath[str],
    resources: With, data: JSONBody[cmd.CancelSession],
) -> Response[Any]:  # fmt: skip
    """Cancel a session: every seat and waitlist entry in it is released."""
    decide = lambda c: lambda p, s: rules.decide_cancel_session(p, s, session, c)  # noqa: E731
    return await _run(request, resources, event, cmd.CancelSession, decide)


@post(SESSION + "/merge", **OPTS)
async def merge_session(
    request: Req, event: FromPath[str], session: FromPath[str],
    resources: With, data: JSONBody[cmd.MergeSessions],
) -> Response[Any]:  # fmt: skip
    """Merge the session into `into`: seats move in the order they were given, those beyond
    the target's capacity join its waitlist after those already waiting, then the source's
    waitlist follows."""
    decide = lambda c: lambda p, s: rules.decide_merge(p, s, session, c)  # noqa: E731
    return await _run(request, resources, event, cmd.MergeSessions, decide)


@post("/events/{event:str}/cancel", **OPTS)
async def cancel_event(
    request: Req, event: FromPath[str], resources: With,
    data: JSONBody[cmd.CancelEvent],
) -> Response[Any]:  # fmt: skip
    """Cancel the event: every seat and waitlist entry released; sign-ups answer
    `event-cancelled`."""
    decide = lambda c: lambda p, s: rules.decide_cancel_event(p, s, c)  # noqa: E731
    return await _run(request, resources, event, cmd.CancelEvent, decide)


@post("/events/{event:str}/go-online", **OPTS)
async def go_online(
    request: Req, event: FromPath[str], resources: With,
    data: JSONBody[cmd.GoOnline],
) -> Response[Any]:  # fmt: skip
    """Turn every session online: rooms released, seats kept, capacity `capacity` (unlimited
    unless given), waitlists promoted; registration stays as it was."""
    decide = lambda c: lambda p, s: rules.decide_go_online(p, s, c)  # noqa: E731
    return await _run(request, resources, event, cmd.GoOnline, decide)


async def _run(
    request: Req,
    resources: Resources,
    event: str,
    command_type: type[C],
    decide: Callable[[C], Callable[[Programme, Seating], Outcome]],
) -> Response[Any]:
    keeper = resources.keeper

    async def handle(ctx: CommandContext, command: C) -> tuple[Answer, AppendResult]:
        return await change_seats(keeper, ctx, event, decide(command))

    return await run_command(request, keeper, command_type, handle)


ROUTES = (patch_session, cancel_session, merge_session, cancel_event, go_online)
