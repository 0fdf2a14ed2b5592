"""`?as_of=<position or time>` on the organisers' reads (API.md "Reads", "Auditor"): the answer
replayed from the log to that point (registry.audit.replay) instead of read from the read models.

- A position must be final: the log's fenced head has to reach it (waiting up to 5 s, then 503
  with Retry-After, as `?after=` does).
- A time (ISO 8601 with an offset) stands for the last position recorded at or before it; a time
  later than the database's clock is not final either (503). Positions, not clocks, order the
  log: appends that overlap in time may record their clocks in another order than their
  positions, so `position` in the answer is what the answer is exact for.
- `as_of` with `after` is 422: the one names a past state, the other waits for a future one.
- Paged lists page over the replayed list with the live reads' cursors; `next` keeps `as_of`,
  as the resolved position (a time resolves once).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from litestar.params import QueryParameter

from projections import reads as rm
from registry.api.lifespan import Resources
from registry.api.problems import Unavailable, ValidationFailed
from registry.audit import replay_answers as answers
from registry.audit.replay import Replay, database_now, named, parse_as_of, position_at
from registry.audit.replay_answers import Listed
from registry.audit.replay_fold import Replayed
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec, EventStore
from registry.handlers.event_view import describe

AsOf = Annotated[
    str | None,
    QueryParameter(
        name="as_of",
        max_length=64,
        required=False,
        description="A log position, or an ISO 8601 time with an offset: the answer as of then.",
    ),
]
WAIT_FOR_POSITION_S: Final = 5.0
#: Lists are built without names, then the page shown is named (replay.named).
NO_NAMES: Final[answers.Details] = {}


@functools.cache
def _codec() -> EventCodec:
    return EventCodec(ALL_EVENTS)


async def _final(store: EventStore, position: int) -> None:
    deadline = time.monotonic() + WAIT_FOR_POSITION_S
    while await store.head() < position:
        if time.monotonic() > deadline:
            raise Unavailable(
                f"position {position} is not final yet; retry shortly", as_of=position
            )
        await asyncio.sleep(0.02)


async def resolve(resources: Resources, as_of: str, after: int | None) -> int:
    """The position `as_of` names, once it is final."""
    if after is not None:
        raise ValidationFailed("as_of and after cannot be given together", field="as_of")
    try:
        wanted = parse_as_of(as_of)
    except ValueError as error:
        raise ValidationFailed(f"as_of: {error}", field="as_of") from None
    store = resources.keeper.store
    if isinstance(wanted, int):
        await _final(store, wanted)
        return wanted
    ahead = (wanted - await database_now(resources.pool)).total_seconds()
    if ahead > 0:
        retry = min(3600, max(1, math.ceil(ahead)))
        raise Unavailable(f"{wanted.isoformat()} has not happened yet", retry_after=retry)
    # The head after the clock: every append that had finished by `wanted` is within it.
    return await position_at(resources.pool, wanted, await store.head())


async def _replayed(
    resources: Resources, organisation: str, event_id: str, as_of: str, after: int | None
) -> tuple[Replayed, int]:
    position = await resolve(resources, as_of, after)
    replay = Replay(resources.pool, _codec(), resources.settings.replay_snapshot_every)
    return await replay.state(organisation, event_id, position), position


def _listed(listed: Listed, path: str, limit: int, position: int) -> dict[str, Any]:
    answer, more = listed
    query = {"limit": limit, "cursor": more, "as_of": position}
    return {**answer, "next": f"{path}?{urlencode(query)}" if more else None}


# -- the reads (api/reads.py calls these when `as_of` is given) ----------------------------------


async def event_details(
    resources: Resources, organisation: str, event_id: str, as_of: str, after: int | None
) -> dict[str, Any]:
    state, position = await _replayed(resources, organisation, event_id, as_of, after)
    return describe(answers.programme_of(state), position)


async def occupancy(
    resources: Resources, organisation: str, event_id: str, as_of: str, after: int | None
) -> dict[str, Any]:
    state, position = await _replayed(resources, organisation, event_id, as_of, after)
    return answers.occupancy(state, position)


async def rooms(
    resources: Resources,
    organisation: str,
    event_id: str,
    as_of: str,
    after: int | None,
    page: rm.Page,
    path: str,
) -> dict[str, Any]:
    state, position = await _replayed(resources, organisation, event_id, as_of, after)
    return _listed(answers.rooms(state, position, page), path, page.limit, position)


async def attendees(
    resources: Resources,
    organisation: str,
    event_id: str,
    session_id: str,
    as_of: str,
    after: int | None,
    page: rm.Page,
    path: str,
) -> dict[str, Any]:
    state, position = await _replayed(resources, organisation, event_id, as_of, after)
    listed = await named(
        resources.pool, state, answers.attendees(state, position, session_id, page, NO_NAMES)
    )
    return _listed(listed, path, page.limit, position)


async def waitlist(
    resources: Resources,
    organisation: str,
    event_id: str,
    session_id: str,
    as_of: str,
    after: int | None,
    page: rm.Page,
    path: str,
) -> dict[str, Any]:
    state, position = await _replayed(resources, organisation, event_id, as_of, after)
    listed = await named(
        resources.pool, state, answers.waitlist(state, position, session_id, page, NO_NAMES)
    )
    return _listed(listed, path, page.limit, position)


async def conflicts(
    resources: Resources,
    organisation: str,
    event_id: str,
    as_of: str,
    after: int | None,
    page: rm.Page,
    path: str,
) -> dict[str, Any]:
    state, position = await _replayed(resources, organisation, event_id, as_of, after)
    listed = await named(resources.pool, state, answers.conflicts(state, position, page, NO_NAMES))
    return _listed(listed, path, page.limit, position)
