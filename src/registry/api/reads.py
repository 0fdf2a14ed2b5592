"""Reads (API.md "Reads"): every read accepts `?after=<position>` and answers once what it reads
from has reached that position (read your writes), waiting up to 5 s, then 503 with Retry-After.
The organisers' reads also accept `?as_of=<position or time>`: replayed from the log (as_of.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromPath, QueryParameter

from projections import reads as rm
from registry.api import as_of as replayed
from registry.api.as_of import AsOf
from registry.api.lifespan import resources_of
from registry.api.problems import Unavailable
from registry.auth.guards import any_role, principal_of, reader
from registry.eventstore import EventStore
from registry.handlers.agenda import agenda
from registry.handlers.event_view import event_view

#: The key's principal and the process's resources come from the request, not as dependencies:
#: Litestar's dependency injection costs ~9 us a request for each (bench/README.md, 2026-12-07
#: afternoon), and these are the most frequent reads.
Req = Request[Any, Any, Any]
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


@get("/events/{event:str}/participants/{participant:str}", before_request=any_role, tags=["reads"])
async def participant_agenda(
    request: Req,
    event: FromPath[str],
    participant: FromPath[str],
    after: After = None,
) -> Response[Any]:
    """One participant's agenda: seats, and waitlist entries with their place in the queue."""
    resources, principal = resources_of(request), principal_of(request)
    await reached(resources.keeper.store, after)
    return Response(await agenda(resources.keeper, principal.organisation, event, participant))


@get("/events/{event:str}", before_request=reader, tags=["reads"])
async def event_details(
    request: Req, event: FromPath[str], after: After = None, as_of: AsOf = None
) -> Response[Any]:
    """The event with its programme (rooms, sessions) and state."""
    resources, principal = resources_of(request), principal_of(request)
    if as_of is not None:
        org = principal.organisation
        return Response(await replayed.event_details(resources, org, event, as_of, after))
    await reached(resources.keeper.store, after)
    return Response(await event_view(resources.keeper.store, principal.organisation, event))


# -- the organisers' read models (projections/reads.py) ------------------------------------------

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=rm.MAX_LIMIT, required=False)]
Cursor = Annotated[str | None, QueryParameter(name="cursor", max_length=200, required=False)]


def _listed(answer: dict[str, Any], more: str | None, path: str, limit: int) -> dict[str, Any]:
    """API.md lists: `{position, items, next}`, `next` the path of the next page or null."""
    following = f"{path}?{urlencode({'limit': limit, 'cursor': more})}" if more else None
    return {**answer, "next": following}


@get("/events/{event:str}/occupancy", before_request=reader, tags=["reads"])
async def event_occupancy(
    request: Req, event: FromPath[str], after: After = None, as_of: AsOf = None
) -> Response[Any]:
    """Capacity, seated, waitlisted and free seats of every session, by start time."""
    resources, principal = resources_of(request), principal_of(request)
    if as_of is not None:
        org = principal.organisation
        return Response(await replayed.occupancy(resources, org, event, as_of, after))
    # Shared for a moment among this process's readers (projections/shared_reads.py).
    return Response(await resources.occupancy.occupancy(principal.organisation, event, after))


@get("/events/{event:str}/rooms/occupancy", before_request=reader, tags=["reads"])
async def room_occupancy(
    request: Req,
    event: FromPath[str],
    after: After = None,
    limit: Limit = rm.DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_of: AsOf = None,
) -> Response[Any]:
    """Every room with the time ranges its sessions use and the seats taken in each."""
    resources, principal = resources_of(request), principal_of(request)
    page = rm.Page(limit, cursor)
    if as_of is not None:
        path = f"/v1/events/{event}/rooms/occupancy"
        org = principal.organisation
        return Response(await replayed.rooms(resources, org, event, as_of, after, page, path))
    answer, more = await rm.rooms(resources.pool, principal.organisation, event, page, after)
    return Response(_listed(answer, more, f"/v1/events/{event}/rooms/occupancy", limit))


@get("/events/{event:str}/sessions/{session:str}/attendees", before_request=reader, tags=["reads"])
async def session_attendees(
    request: Req,
    event: FromPath[str],
    session: FromPath[str],
    after: After = None,
    limit: Limit = rm.DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_of: AsOf = None,
) -> Response[Any]:
    """Who holds a seat, in the order the seats were given."""
    resources, principal = resources_of(request), principal_of(request)
    page = rm.Page(limit, cursor)
    org = principal.organisation
    path = f"/v1/events/{event}/sessions/{session}/attendees"
    if as_of is not None:
        args = (resources, org, event, session, as_of, after, page, path)
        return Response(await replayed.attendees(*args))
    answer, more = await rm.attendees(resources.pool, org, event, session, page, after)
    return Response(_listed(answer, more, path, limit))


@get("/events/{event:str}/sessions/{session:str}/waitlist", before_request=reader, tags=["reads"])
async def session_waitlist(
    request: Req,
    event: FromPath[str],
    session: FromPath[str],
    after: After = None,
    limit: Limit = rm.DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_of: AsOf = None,
) -> Response[Any]:
    """Who waits, in queue order, with each one's place and fallback seat."""
    resources, principal = resources_of(request), principal_of(request)
    page = rm.Page(limit, cursor)
    org = principal.organisation
    path = f"/v1/events/{event}/sessions/{session}/waitlist"
    if as_of is not None:
        args = (resources, org, event, session, as_of, after, page, path)
        return Response(await replayed.waitlist(*args))
    answer, more = await rm.waitlist(resources.pool, org, event, session, page, after)
    return Response(_listed(answer, more, path, limit))


@get("/events/{event:str}/conflicts", before_request=reader, tags=["reads"])
async def event_conflicts(
    request: Req,
    event: FromPath[str],
    after: After = None,
    limit: Limit = rm.DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_of: AsOf = None,
) -> Response[Any]:
    """Participants holding seats at overlapping times (after a reschedule or a merge)."""
    resources, principal = resources_of(request), principal_of(request)
    page = rm.Page(limit, cursor)
    if as_of is not None:
        path = f"/v1/events/{event}/conflicts"
        org = principal.organisation
        return Response(await replayed.conflicts(resources, org, event, as_of, after, page, path))
    answer, more = await rm.conflicts(resources.pool, principal.organisation, event, page, after)
    return Response(_listed(answer, more, f"/v1/events/{event}/conflicts", limit))


ROUTES = (
    participant_agenda,
    event_details,
    event_occupancy,
    room_occupancy,
    session_attendees,
    session_waitlist,
    event_conflicts,
)
