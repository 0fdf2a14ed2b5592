"""Read model `catalog`: the sessions, rooms and participants of every event, as the programme's
and registrations' events describe them. The other reads join it for titles, times, rooms and
states (projections/reads.py). Participants' names are not kept here: they live outside the log,
in `participant_details`, which the reads join when they answer (so an erasure shows at once).

Sessions follow organisers' changes as `registry.domain.programme.evolve` does: capacity, room and
mode, times, `state` ("open" | "cancelled" | "merged") and `merged_into`. The event's own state,
registration window and closing time are not kept here: no read joins them (GET /v1/events/{event}
folds the event's stream)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from projections.base import Statements, where
from registry.dbtypes import Connection
from registry.domain.events import (
    EventCancelled,
    EventWentOnline,
    ParticipantRegistered,
    RegistrationCancelled,
    RoomAdded,
    RoomChanged,
    SessionCancelled,
    SessionCapacityChanged,
    SessionDescribed,
    SessionRescheduled,
    SessionScheduled,
    SessionsMerged,
)
from registry.eventstore import RecordedEvent

UPSERT_ROOM: Final = """
INSERT INTO rm_rooms (generation, organisation, event_id, room_id, name, capacity, location)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (generation, organisation, event_id, room_id)
DO UPDATE SET name = EXCLUDED.name, capacity = EXCLUDED.capacity, location = EXCLUDED.location
"""
UPSERT_SESSION: Final = """
INSERT INTO rm_sessions (generation, organisation, event_id, session_id, title, room_id,
                         starts_at, ends_at, capacity, mode, waitlist)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (generation, organisation, event_id, session_id)
DO UPDATE SET title = EXCLUDED.title, room_id = EXCLUDED.room_id,
              starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
              capacity = EXCLUDED.capacity, mode = EXCLUDED.mode, waitlist = EXCLUDED.waitlist
"""
DESCRIBE_SESSION: Final = """
UPDATE rm_sessions SET title = $5
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
"""
SESSION_SEATS: Final = """
UPDATE rm_sessions SET capacity = $5, room_id = $6, mode = $7
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
"""
RESCHEDULE_SESSION: Final = """
UPDATE rm_sessions SET starts_at = $5, ends_at = $6
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
"""
CANCEL_SESSION: Final = """
UPDATE rm_sessions SET state = 'cancelled'
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
"""
MERGE_SESSION: Final = """
UPDATE rm_sessions SET state = 'merged', merged_into = $5
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
"""
# The whole event cancelled or turned online touches only the sessions still open: one that was
# cancelled or merged before keeps its state, room and capacity (registry.domain.programme).
CANCEL_EVENT: Final = """
UPDATE rm_sessions SET state = 'cancelled'
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND state = 'open'
"""
EVENT_ONLINE: Final = """
UPDATE rm_sessions SET mode = 'online', room_id = NULL, capacity = $4
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND state = 'open'
"""
INSERT_PARTICIPANT: Final = """
INSERT INTO rm_participants (generation, organisation, event_id, participant_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (generation, organisation, event_id, participant_id) DO NOTHING
"""
CANCEL_PARTICIPANT: Final = """
UPDATE rm_participants SET cancelled = true
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND participant_id = $4
"""


class Catalog:
    name = "catalog"
    tables = ("rm_sessions", "rm_rooms", "rm_participants")

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        out = Statements()
        for recorded in events:
            found = where(recorded.stream_id)
            if found is None:
                continue
            g, org, ev = generation, found.organisation, found.event_id
            match recorded.event:
                case RoomAdded() | RoomChanged() as e:
                    out.add(UPSERT_ROOM, g, org, ev, e.room_id, e.name, e.capacity, e.location)
                case SessionScheduled() as e:
                    out.add(
                        UPSERT_SESSION, g, org, ev, e.session_id, e.title, e.room_id,
                        e.starts_at, e.ends_at, e.capacity, e.mode, e.waitlist,
                    )  # fmt: skip
                case SessionDescribed() as e:
                    out.add(DESCRIBE_SESSION, g, org, ev, e.session_id, e.title)
                case SessionCapacityChanged() as e:
                    out.add(SESSION_SEATS, g, org, ev, e.session_id, e.capacity, e.room_id, e.mode)
                case SessionRescheduled() as e:
                    out.add(RESCHEDULE_SESSION, g, org, ev, e.session_id, e.starts_at, e.ends_at)
                case SessionCancelled() as e:
                    out.add(CANCEL_SESSION, g, org, ev, e.session_id)
                case SessionsMerged() as e:
                    out.add(MERGE_SESSION, g, org, ev, e.session_id, e.into)
                case EventCancelled():
                    out.add(CANCEL_EVENT, g, org, ev)
                case EventWentOnline() as e:
                    out.add(EVENT_ONLINE, g, org, ev, e.capacity)
                case ParticipantRegistered() as e:
                    out.add(INSERT_PARTICIPANT, g, org, ev, e.participant_id)
                case RegistrationCancelled() as e:
                    out.add(CANCEL_PARTICIPANT, g, org, ev, e.participant_id)
        await out.flush(conn)


PROJECTION: Final = Catalog()
