"""What changed for one event between two log positions, read from the log itself.

A live stream resumes from any position (its client's `Last-Event-ID`), so what it must send
cannot come from memory: the log says which facts of the event were recorded after that
position, and so which sessions' occupancy rows to send again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg

from registry.domain.streams import event_stream, participant_stream_prefix

#: Longest range scanned for changes; a client further behind gets every session again
#: (a few dozen rows) instead of a scan of a long stretch of the log.
MAX_SCAN: Final = 10_000

# stream_organisation() is the expression of migrations/0037's index: a range scan of this
# organisation's events in the range, then a filter on the event's own streams (its programme
# stream and its participants' streams; e-mail claims change nothing shown).
FACTS: Final = """
SELECT e.type, e.stream_id = $4 AS programme,
       e.data->>'session_id' AS session_id, e.data->>'into' AS into
  FROM events e
 WHERE stream_organisation(e.stream_id) = $1
   AND e.position > $2 AND e.position <= $3
   AND (e.stream_id = $4 OR starts_with(e.stream_id, $5))
 ORDER BY e.position
"""


@dataclass(frozen=True, slots=True)
class Changes:
    """The event's facts recorded in a range of positions, and what they touch."""

    #: The sessions whose occupancy row may differ (a fact names them as `session_id` or as a
    #: merge's `into`).
    sessions: frozenset[str]
    #: Every session may differ: a programme fact that names no session (rooms, the event
    #: cancelled or turned online, the registration window), or a range too long to scan.
    complete: bool
    #: The distinct types of the facts, sorted (the page refetches what they affect).
    facts: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.facts and not self.complete


EVERYTHING: Final = Changes(frozenset(), complete=True, facts=())


async def changes_between(
    pool: asyncpg.Pool, organisation: str, event_id: str, after: int, upto: int
) -> Changes:
    """The event's facts at positions in (`after`, `upto`]: every one of them is final there
    (`upto` is a position the projections have reached through the log's fence)."""
    if upto - after > MAX_SCAN:
        return EVERYTHING
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            FACTS,
            organisation,
            after,
            upto,
            event_stream(organisation, event_id),
            participant_stream_prefix(organisation, event_id),
        )
    sessions: set[str] = set()
    complete = False
    for row in rows:
        named = {row["session_id"], row["into"]} - {None}
        sessions |= named
        complete = complete or (row["programme"] and not named)
    return Changes(frozenset(sessions), complete, tuple(sorted({row["type"] for row in rows})))
