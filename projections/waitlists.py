"""Read model `waitlists`: who waits for which session, by the gate's ticket (the queue's order,
DESIGN.md section 2), and which seat their entry `replaces`. Reduced per batch to its net effect
per (session, participant), as seats.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from projections.base import where, write_net_effect
from registry.dbtypes import Connection
from registry.domain.events import PromotedFromWaitlist, Waitlisted, WaitlistLeft
from registry.eventstore import RecordedEvent

DELETE: Final = """
DELETE FROM rm_waits
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
   AND participant_id = $5
"""
UPSERT: Final = """
INSERT INTO rm_waits (generation, organisation, event_id, session_id, participant_id, ticket,
                      replaces)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (generation, organisation, event_id, session_id, participant_id)
DO UPDATE SET ticket = EXCLUDED.ticket, replaces = EXCLUDED.replaces
"""

Key = tuple[str, str, str, str]  # organisation, event, session, participant
Entry = tuple[int, str | None]  # ticket, replaces


class Waitlists:
    name = "waitlists"
    tables = ("rm_waits",)

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        final: dict[Key, Entry | None] = {}
        for recorded in events:
            event = recorded.event
            found = where(recorded.stream_id)
            if found is None or found.participant_id is None:
                continue
            if isinstance(event, Waitlisted | PromotedFromWaitlist | WaitlistLeft):
                key = (found.organisation, found.event_id, event.session_id, event.participant_id)
                final[key] = (
                    (event.ticket, event.replaces) if isinstance(event, Waitlisted) else None
                )
        await write_net_effect(conn, generation, final, DELETE, UPSERT)


PROJECTION: Final = Waitlists()
