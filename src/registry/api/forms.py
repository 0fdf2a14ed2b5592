"""Form backends' routes: participants, sign-ups, cancellations (API.md "Form backend")."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, post
from litestar.params import FromPath, JSONBody

from registry.api.commands import run_command
from registry.api.lifespan import resources_of
from registry.auth.guards import form_or_organiser
from registry.domain import commands as cmd
from registry.handlers import registration as handlers

Req = Request[Any, Any, Any]


@post(
    "/events/{event:str}/participants",
    status_code=201,
    before_request=form_or_organiser,
    tags=["form backend"],
)
async def register_participant(
    request: Req,
    event: FromPath[str],
    data: JSONBody[cmd.RegisterParticipant],
) -> Response[Any]:
    """Register a participant (one per e-mail per event, while registration is open)."""
    k = resources_of(request).keeper
    return await run_command(
        request,
        k,
        cmd.RegisterParticipant,
        lambda ctx, c: handlers.register_participant(k, ctx, event, c),
    )


@post(
    "/events/{event:str}/participants/{participant:str}/signups",
    status_code=201,
    before_request=form_or_organiser,
    tags=["form backend"],
)
async def sign_up(
    request: Req,
    event: FromPath[str],
    participant: FromPath[str],
    data: JSONBody[cmd.SignUp],
) -> Response[Any]:
    """A seat, or a place on the waitlist (keeping an overlapping seat as the fallback)."""
    k = resources_of(request).keeper
    return await run_command(
        request,
        k,
        cmd.SignUp,
        lambda ctx, c: handlers.sign_up(k, ctx, event, participant, c),
    )


@delete(
    "/events/{event:str}/participants/{participant:str}/signups/{session:str}",
    status_code=200,
    before_request=form_or_organiser,
    tags=["form backend"],
)
async def cancel_sign_up(
    request: Req,
    event: FromPath[str],
    participant: FromPath[str],
    session: FromPath[str],
) -> Response[Any]:
    """Give up a seat or a waitlist entry; `promoted` lists everyone it promoted, in order."""
    k = resources_of(request).keeper
    return await run_command(
        request,
        k,
        type(None),
        lambda ctx, _: handlers.cancel_sign_up(k, ctx, event, participant, session),
    )


@delete(
    "/events/{event:str}/participants/{participant:str}",
    status_code=200,
    before_request=form_or_organiser,
    tags=["form backend"],
)
async def cancel_registration(
    request: Req, event: FromPath[str], participant: FromPath[str]
) -> Response[Any]:
    """Cancel a whole registration: every seat and waitlist entry is released."""
    k = resources_of(request).keeper
    return await run_command(
        request,
        k,
        type(None),
        lambda ctx, _: handlers.cancel_registration(k, ctx, event, participant),
    )


@post(
    "/events/{event:str}/registrations",
    status_code=201,
    before_request=form_or_organiser,
    tags=["form backend"],
)
async def submit_registration(
    request: Req,
    event: FromPath[str],
    data: JSONBody[cmd.SubmitRegistration],
) -> Response[Any]:
    """A whole form in one command: the participant and their sessions, all or nothing."""
    k = resources_of(request).keeper
    return await run_command(
        request,
        k,
        cmd.SubmitRegistration,
        lambda ctx, c: handlers.submit_registration(k, ctx, event, c),
    )


ROUTES = (
    submit_registration,
    register_participant,
    sign_up,
    cancel_sign_up,
    cancel_registration,
)
