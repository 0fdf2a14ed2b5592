"""Read model `occupancy`: seats taken and entries waiting per session, as counters.

Counting commutes, so a batch is summed per session first and written as one upsert per session
touched: a flash crowd of 2,000 sign-ups for one session is one row update, not 2,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

from projections.base import where
from registry.dbtypes import Connection
from registry.domain.events import (
    MovedToWaitlist,
    PromotedFromWaitlist,
    SeatAssigned,
    SeatEvent,
    SeatMoved,
    SeatReleased,
    Waitlisted,
    WaitlistLeft,
    WaitlistMoved,
)
from registry.eventstore import RecordedEvent

ADD: Final = """
INSERT INTO rm_occupancy (generation, organisation, event_id, session_id, seated, waitlisted)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (generation, organisation, event_id, session_id)
DO UPDATE SET seated = rm_occupancy.seated + EXCLUDED.seated,
              waitlisted = rm_occupancy.waitlisted + EXCLUDED.waitlisted
"""

#: What each fact does to (seated, waitlisted) of its own session.
_DELTAS: Final[dict[type, tuple[int, int]]] = {
    SeatAssigned: (1, 0),
    Waitlisted: (0, 1),
    PromotedFromWaitlist: (1, -1),
    SeatReleased: (-1, 0),
    WaitlistLeft: (0, -1),
    # A merge's moves take from `session_id` here and give to `into` (_INTO).
    SeatMoved: (-1, 0),
    MovedToWaitlist: (-1, 0),
    WaitlistMoved: (0, -1),
}
#: What a merge's move does to (seated, waitlisted) of the session it moves into.
_INTO: Final[dict[type, tuple[int, int]]] = {
    SeatMoved: (1, 0),
    MovedToWaitlist: (0, 1),
    WaitlistMoved: (0, 1),
}


class Occupancy:
    name = "occupancy"
    tables = ("rm_occupancy",)

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        seated: Counter[tuple[str, str, str]] = Counter()
        waiting: Counter[tuple[str, str, str]] = Counter()
        for recorded in events:
            event = recorded.event
            found = where(recorded.stream_id)
            if not isinstance(event, SeatEvent) or found is None:
                continue
            delta = _DELTAS[type(event)]
            key = (found.organisation, found.event_id, event.session_id)
            seated[key] += delta[0]
            waiting[key] += delta[1]
            if isinstance(event, SeatMoved | MovedToWaitlist | WaitlistMoved):
                gained = _INTO[type(event)]
                into = (found.organisation, found.event_id, event.into)
                seated[into] += gained[0]
                waiting[into] += gained[1]
        rows = [
            (generation, *key, seated[key], waiting[key]) for key in seated.keys() | waiting.keys()
        ]
        if rows:
            await conn.executemany(ADD, sorted(rows))  # sorted: a fixed lock order


PROJECTION: Final = Occupancy()
