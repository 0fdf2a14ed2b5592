"""Read model `waitlists`: who waits for which session, by the gate's ticket (the queue's order,
DESIGN.md section 2), and which seat their entry `replaces`. Reduced per batch to its net effect
per (session, participant), as seats.py.

A merge moves entries as `Seating.apply` does (registry.domain.seating): `MovedToWaitlist` makes
a moved seat an entry in `into`'s queue; `WaitlistMoved` moves an entry there with a new ticket,
keeping what it replaces (unless that is `into` itself); and a seat that moves renames the
`replaces` of its holder's other entries (API.md: fallbacks that named the source name the
target). Those need the participant's entries as they stand at that point of the batch: their
stored rows are read first, in one query, only for the participants a merge moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from projections.base import where, write_net_effect
from registry.dbtypes import Connection
from registry.domain.events import (
    MovedToWaitlist,
    PromotedFromWaitlist,
    SeatEvent,
    SeatMoved,
    Waitlisted,
    WaitlistLeft,
    WaitlistMoved,
)
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
STORED: Final = """
SELECT w.organisation, w.event_id, w.participant_id, w.session_id, w.ticket, w.replaces
  FROM unnest($2::text[], $3::text[], $4::text[]) AS k (organisation, event_id, participant_id)
  JOIN rm_waits w
    ON w.generation = $1 AND w.organisation = k.organisation AND w.event_id = k.event_id
   AND w.participant_id = k.participant_id
"""

Key = tuple[str, str, str, str]  # organisation, event, session, participant
Person = tuple[str, str, str]  # organisation, event, participant
Entry = tuple[int, str | None]  # ticket, replaces
_MOVES: Final = (SeatMoved, MovedToWaitlist, WaitlistMoved)


class _Queues:
    """The batch's net effect per entry (`final`) and, for the participants a merge moves, their
    entries as they stand at this point of the batch (stored rows, the batch's changes on top)."""

    def __init__(self, stored: dict[Person, dict[str, Entry]]) -> None:
        self.final: dict[Key, Entry | None] = {}
        self._held = stored

    def set(self, person: Person, session_id: str, entry: Entry | None) -> None:
        self.final[(person[0], person[1], session_id, person[2])] = entry
        held = self._held.get(person)
        if held is None:
            return  # nobody moves them in this batch: their other entries are never asked for
        if entry is None:
            held.pop(session_id, None)
        else:
            held[session_id] = entry

    def entries(self, person: Person) -> dict[str, Entry]:
        return dict(self._held[person])

    def rename(self, person: Person, old: str, new: str | None) -> None:
        """A seat moved from `old` (to `new`, or into a queue: None): entries that replaced it
        replace the moved seat; the entry in `new`'s own queue replaces nothing."""
        for session_id, (ticket, replaces) in self.entries(person).items():
            if replaces == old:
                self.set(person, session_id, (ticket, None if new == session_id else new))


class Waitlists:
    name = "waitlists"
    tables = ("rm_waits",)

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        queues = _Queues(await _stored(conn, generation, events))
        for recorded in events:
            event = recorded.event
            found = where(recorded.stream_id)
            if found is None or found.participant_id is None or not isinstance(event, SeatEvent):
                continue
            person = (found.organisation, found.event_id, event.participant_id)
            match event:
                case Waitlisted():
                    queues.set(person, event.session_id, (event.ticket, event.replaces))
                case PromotedFromWaitlist() | WaitlistLeft():
                    queues.set(person, event.session_id, None)
                case SeatMoved():
                    queues.rename(person, event.session_id, event.into)
                case MovedToWaitlist():
                    queues.set(person, event.into, (event.ticket, None))
                    queues.rename(person, event.session_id, None)
                case WaitlistMoved():
                    moved = queues.entries(person).get(event.session_id)
                    replaces = None if moved is None or moved[1] == event.into else moved[1]
                    queues.set(person, event.session_id, None)
                    queues.set(person, event.into, (event.ticket, replaces))
        await write_net_effect(conn, generation, queues.final, DELETE, UPSERT)


async def _stored(
    conn: Connection, generation: int, events: Sequence[RecordedEvent]
) -> dict[Person, dict[str, Entry]]:
    """The stored entries of every participant a merge moves in this batch (none: no query)."""
    moved: dict[Person, dict[str, Entry]] = {}
    for recorded in events:
        found = where(recorded.stream_id)
        if isinstance(recorded.event, _MOVES) and found is not None:
            moved[(found.organisation, found.event_id, recorded.event.participant_id)] = {}
    if not moved:
        return moved
    columns = [list(column) for column in zip(*moved, strict=True)]
    for row in await conn.fetch(STORED, generation, *columns):
        person = (row["organisation"], row["event_id"], row["participant_id"])
        moved[person][row["session_id"]] = (row["ticket"], row["replaces"])
    return moved


PROJECTION: Final = Waitlists()
