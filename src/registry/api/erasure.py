"""The organiser's erasure of a participant's personal data (docs/api-additions.md
"Erasure of personal data"; the handler: registry.handlers.erasure)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from registry.api.commands import run_command
from registry.api.lifespan import Resources
from registry.auth.guards import organiser_only
from registry.domain import commands as cmd
from registry.handlers import erasure as handlers


class Erase(cmd.Command, frozen=True, kw_only=True):
    """A body of `{}` (unknown fields refused); no body at all is fine too."""


@post(
    "/events/{event:str}/participants/{participant:str}/erase",
    status_code=200,
    before_request=organiser_only,
    tags=["organiser"],
)
async def erase_participant(
    request: Request[Any, Any, Any],
    event: FromPath[str],
    participant: FromPath[str],
    resources: NamedDependency[Resources],
) -> Response[Any]:
    """Erase the participant's name, e-mail and organisation; their seats stay. Reads then show
    them with `name: null` and `erased: true`. Erasing again answers 200 and writes nothing."""
    k = resources.keeper
    return await run_command(
        request,
        k,
        Erase | None,  # type: ignore[arg-type]
        lambda ctx, _: handlers.erase_participant(k, ctx, event, participant),
    )


ROUTES = (erase_participant,)
