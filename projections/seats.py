"""Read model `seats`: who holds a seat in which session, since when (`seated_at`, the fact's
recorded_at) and in which order (its log position): attendee lists, agendas and conflicts.

A batch is reduced to its net effect per (session, participant) first (a seat given and given
up within one batch writes nothing), then written as one delete and one upsert run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from projections.base import where, write_net_effect
from registry.dbtypes import Connection
from registry.domain.events import PromotedFromWaitlist, SeatAssigned, SeatReleased
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

Key = tuple[str, str, str, str]  # organisation, event, session, participant
Seat = tuple[int, datetime, int]  # ticket, seated_at, seated_position


class Seats:
    name = "seats"
    tables = ("rm_seats",)

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        final: dict[Key, Seat | None] = {}
        for recorded in events:
            event = recorded.event
            found = where(recorded.stream_id)
            if found is None or found.participant_id is None:
                continue
            if isinstance(event, SeatAssigned | PromotedFromWaitlist | SeatReleased):
                key = (found.organisation, found.event_id, event.session_id, event.participant_id)
                final[key] = (
                    None
                    if isinstance(event, SeatReleased)
                    else (event.ticket, recorded.recorded_at, recorded.position)
                )
        await write_net_effect(conn, generation, final, DELETE, UPSERT)


PROJECTION: Final = Seats()
