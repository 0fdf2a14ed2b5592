"""Read model `seats`: who holds a seat in which session, since when (`seated_at`, the fact's
recorded_at) and in which order (its log position): attendee lists, agendas and conflicts.

A batch is reduced to its net effect per (session, participant) first (a seat given and given
up within one batch writes nothing), then written as one delete and one upsert run.

A merge's `SeatMoved` carries the seat over to `into` with its first `seated_at` and position
(API.md: attendees in the order they got their seat, a moved seat keeps its `seated_at`); only
its ticket is the new one. The seat it moves is either earlier in the batch or already stored:
the stored ones are read first, in one query, and only when the batch moves a seat it did not
give itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from projections.base import where, write_net_effect
from registry.dbtypes import Connection
from registry.domain.events import (
    MovedToWaitlist,
    PromotedFromWaitlist,
    SeatAssigned,
    SeatMoved,
    SeatReleased,
)
from registry.eventstore import RecordedEvent

DELETE: Final = """
DELETE FROM rm_seats
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
   AND participant_id = $5
"""
UPSERT: Final = """
INSERT INTO rm_seats (generation, organisation, event_id, session_id, participant_id, ticket,
                      seated_at, seated_position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (generation, organisation, event_id, session_id, participant_id)
DO UPDATE SET ticket = EXCLUDED.ticket, seated_at = EXCLUDED.seated_at,
              seated_position = EXCLUDED.seated_position
"""
STORED: Final = """
SELECT s.organisation, s.event_id, s.session_id, s.participant_id, s.ticket, s.seated_at,
       s.seated_position
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
       AS k (organisation, event_id, session_id, participant_id)
  JOIN rm_seats s
    ON s.generation = $1 AND s.organisation = k.organisation AND s.event_id = k.event_id
   AND s.session_id = k.session_id AND s.participant_id = k.participant_id
"""

Key = tuple[str, str, str, str]  # organisation, event, session, participant
Seat = tuple[int, datetime, int]  # ticket, seated_at, seated_position
Change = tuple[Key, RecordedEvent]


class Seats:
    name = "seats"
    tables = ("rm_seats",)

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        changes = _changes(events)
        stored = await _stored(conn, generation, changes)
        final: dict[Key, Seat | None] = {}
        for key, recorded in changes:
            event = recorded.event
            if isinstance(event, SeatAssigned | PromotedFromWaitlist):
                final[key] = (event.ticket, recorded.recorded_at, recorded.position)
            elif isinstance(event, SeatReleased | MovedToWaitlist):
                final[key] = None
            elif isinstance(event, SeatMoved):
                seat = final[key] if key in final else stored.get(key)
                final[key] = None
                # A log the domain wrote always has the seat; should one not, the move is
                # taken as the seat's start rather than stopping the projection for good.
                _, seated_at, position = seat or (0, recorded.recorded_at, recorded.position)
                final[(*key[:2], event.into, key[3])] = (event.ticket, seated_at, position)
        await write_net_effect(conn, generation, final, DELETE, UPSERT)


def _changes(events: Sequence[RecordedEvent]) -> list[Change]:
    """The batch's seat facts, each with the (session, participant) whose seat it changes."""
    changes: list[Change] = []
    for recorded in events:
        event = recorded.event
        found = where(recorded.stream_id)
        if found is None or found.participant_id is None:
            continue
        if isinstance(
            event, SeatAssigned | PromotedFromWaitlist | SeatReleased | SeatMoved | MovedToWaitlist
        ):
            key = (found.organisation, found.event_id, event.session_id, event.participant_id)
            changes.append((key, recorded))
    return changes


async def _stored(conn: Connection, generation: int, changes: Sequence[Change]) -> dict[Key, Seat]:
    """The stored seats the batch moves before it gave them itself (none: no query)."""
    given: set[Key] = set()
    wanted: list[Key] = []
    for key, recorded in changes:
        if isinstance(recorded.event, SeatMoved):
            if key not in given:
                wanted.append(key)
            given.add((*key[:2], recorded.event.into, key[3]))  # a merge of a merge's target
        given.add(key)
    if not wanted:
        return {}
    columns = [list(column) for column in zip(*wanted, strict=True)]
    rows = await conn.fetch(STORED, generation, *columns)
    return {
        (r["organisation"], r["event_id"], r["session_id"], r["participant_id"]): (
            r["ticket"],
            r["seated_at"],
            r["seated_position"],
        )
        for r in rows
    }


PROJECTION: Final = Seats()
