"""Reads (API.md "Reads"): every read accepts `?after=<position>` and answers once what it reads
from has reached that position (read your writes), waiting up to 5 s, then 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Final

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from registry.api.lifespan import Resources
from registry.api.problems import Unavailable
from registry.auth.guards import any_role, reader
from registry.auth.principal import Principal
from registry.eventstore import EventStore
from registry.handlers.agenda import agenda
from registry.handlers.event_view import event_view

Who = NamedDependency[Principal]
With = NamedDependency[Resources]
After = Annotated[int | None, QueryParameter(name="after", ge=0, required=False)]

WAIT_FOR_POSITION_S: Final = 5.0


async def reached(store: EventStore, after: int | None) -> None:
    """Wait until the log's fenced head has reached `after` (503 after 5 s)."""
    if after is None:
        return
    deadline = time.monotonic() + WAIT_FOR_POSITION_S
    while await store.head() < after:
        if time.monotonic() > deadline:
            raise Unavailable(f"position {after} is not readable yet; retry shortly", after=after)
        await asyncio.sleep(0.02)


@get("/events/{event:str}/participants/{participant:str}", guards=[any_role], tags=["reads"])
async def participant_agenda(
    event: FromPath[str],
    participant: FromPath[str],
    principal: Who,
    resources: With,
    after: After = None,
) -> Response[Any]:
    """One participant's agenda: seats, and waitlist entries with their place in the queue."""
    await reached(resources.keeper.store, after)
    return Response(await agenda(resources.keeper, principal.organisation, event, participant))


@get("/events/{event:str}", guards=[reader], tags=["reads"])
async def event_details(
    event: FromPath[str], resources: With, principal: Who, after: After = None
) -> Response[Any]:
    """The event with its programme (rooms, sessions) and state."""
    await reached(resources.keeper.store, after)
    return Response(await event_view(resources.keeper.store, principal.organisation, event))


ROUTES = (participant_agenda, event_details)
