"""What the read models must answer, computed the other way: by folding the log through the
domain (registry.domain.programme.evolve and Seating.apply). The definition of correct for every
read model (tests/integration/test_read_models_property.py).

Names are not in the log: the reads take them from `participant_details` when they answer, and
so does the fold (`kept_details`), which checks that each item shows its participant's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from projections import PROJECTIONS, checkpoints, reads
from projections.runner import apply_batch
from registry.domain import programme as rules
from registry.domain.events import ParticipantRegistered, SeatEvent, seat_change
from registry.domain.programme import Programme
from registry.domain.seating import Moved, Promoted, Seated, Seating, SessionSeats
from registry.eventstore import EventStore, RecordedEvent

ALL = reads.Page(reads.MAX_LIMIT)
#: participant -> (name, erased), as kept in participant_details.
Details = dict[str, tuple[str | None, bool]]
KEPT_DETAILS = """
SELECT participant_id, name, erased_at IS NOT NULL AS erased FROM participant_details
 WHERE organisation = $1 AND event_id = $2
"""


@dataclass
class Folded:
    programme: Programme
    seating: Seating
    details: Details = field(default_factory=dict)
    #: Everyone the log says registered (ParticipantRegistered), cancelled or not.
    registered: set[str] = field(default_factory=set)
    #: (session, participant) -> when and at which log position the seat was first given: a
    #: seat a merge moved keeps both (attendees are listed in that order, API.md).
    seated_at: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    seated_position: dict[tuple[str, str], int] = field(default_factory=dict)

    def attendees(self, session_id: str) -> list[str]:
        seated = self.seating.sessions[session_id].seated
        return sorted(seated, key=lambda who: self.seated_position[session_id, who])

    def who(self, participant_id: str) -> dict[str, Any]:
        """The name and erasure of an item that names a participant."""
        name, erased = self.details.get(participant_id, (None, False))
        return {"name": name, "erased": erased}


async def kept_details(pool: asyncpg.Pool, organisation: str, event_id: str) -> Details:
    async with pool.acquire() as conn:
        rows = await conn.fetch(KEPT_DETAILS, organisation, event_id)
    return {row["participant_id"]: (row["name"], row["erased"]) for row in rows}


def fold(
    events: Sequence[RecordedEvent], organisation: str, event_id: str, details: Details
) -> Folded:
    event_stream = f"event-{organisation}:{event_id}"
    participants = f"participant-{organisation}:{event_id}:"
    programme: Programme | None = None
    for recorded in events:
        if recorded.stream_id == event_stream:
            programme = rules.evolve(programme, recorded.event)
    assert programme is not None, f"no event {event_id}"
    seating = Seating(
        {
            s.session_id: SessionSeats(
                s.session_id,
                s.starts_at,
                s.ends_at,
                s.capacity,
                s.waitlist,
                state=s.state,
                merged_into=s.merged_into,
            )
            for s in programme.sessions.values()
        }
    )
    folded = Folded(programme, seating, details)
    for recorded in events:
        if not recorded.stream_id.startswith(participants):
            continue
        event = recorded.event
        if isinstance(event, ParticipantRegistered):
            folded.registered.add(event.participant_id)
        elif isinstance(event, SeatEvent):
            change = seat_change(event)
            seating.apply(change)
            if isinstance(change, Seated | Promoted):
                seat = change.session_id, change.participant_id
                folded.seated_at[seat] = recorded.recorded_at
                folded.seated_position[seat] = recorded.position
            elif isinstance(change, Moved):
                source = change.session_id, change.participant_id
                into = change.into, change.participant_id
                folded.seated_at[into] = folded.seated_at[source]
                folded.seated_position[into] = folded.seated_position[source]
    return folded


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def expected(folded: Folded) -> dict[str, Any]:
    """Every read's items (positions left out), as the read models must give them."""
    p, seating = folded.programme, folded.seating
    sessions = sorted(p.sessions.values(), key=lambda s: (s.starts_at, s.session_id))
    occupancy = []
    for s in sessions:
        seats = seating.sessions[s.session_id]
        seated = len(seats.seated)
        occupancy.append(
            {
                "session_id": s.session_id,
                "title": s.title,
                "room_id": s.room_id,
                "starts_at": _utc(s.starts_at),
                "ends_at": _utc(s.ends_at),
                "capacity": s.capacity,
                "seated": seated,
                "waitlisted": len(seats.waiting),
                "free": None if s.capacity is None else max(0, s.capacity - seated),
                "over_capacity": 0 if s.capacity is None else max(0, seated - s.capacity),
                "state": s.state,
            }
        )
    rooms = [
        {
            "room_id": r.room_id,
            "name": r.name,
            "capacity": r.capacity,
            "ranges": [
                {
                    "starts_at": _utc(s.starts_at),
                    "ends_at": _utc(s.ends_at),
                    "session_id": s.session_id,
                    "capacity": s.capacity,
                    "seated": len(seating.sessions[s.session_id].seated),
                }
                for s in sessions
                # A cancelled or merged session no longer uses its room.
                if s.room_id == r.room_id and s.state == "open"
            ],
        }
        for r in sorted(p.rooms.values(), key=lambda r: r.room_id)
    ]
    attendees = {
        s.session_id: [
            {
                "participant_id": who,
                **folded.who(who),
                "seated_at": _utc(folded.seated_at[s.session_id, who]),
            }
            for who in folded.attendees(s.session_id)
        ]
        for s in sessions
    }
    waitlists = {}
    for s in sessions:
        seats = seating.sessions[s.session_id]
        items = []
        for who in seats.queue():
            fallbacks = seating.fallbacks(who, s.session_id)
            items.append(
                {
                    "participant_id": who,
                    **folded.who(who),
                    "waitlist_position": seats.waitlist_position(who),
                    "fallback_session_id": fallbacks[0] if fallbacks else None,
                    "fallback_session_ids": fallbacks,
                }
            )
        waitlists[s.session_id] = items
    conflicts = []
    for who in sorted(folded.registered):
        held = seating.seats_of(who)
        clashing = {x.session_id for x in held for y in held if x is not y and x.overlaps(y)}
        if clashing:
            ordered = [x.session_id for x in held if x.session_id in clashing]
            conflicts.append({"participant_id": who, **folded.who(who), "session_ids": ordered})
    return {
        "occupancy": occupancy,
        "rooms": rooms,
        "attendees": attendees,
        "waitlists": waitlists,
        "conflicts": conflicts,
    }


async def answered(pool: asyncpg.Pool, organisation: str, event_id: str) -> dict[str, Any]:
    """Every read's items as the read models answer them now."""
    occupancy = await reads.occupancy(pool, organisation, event_id)
    sessions = [s["session_id"] for s in occupancy["sessions"]]
    rooms, _ = await reads.rooms(pool, organisation, event_id, ALL)
    conflicts, _ = await reads.conflicts(pool, organisation, event_id, ALL)
    attendees, waitlists = {}, {}
    for sid in sessions:
        attendees[sid] = (await reads.attendees(pool, organisation, event_id, sid, ALL))[0]["items"]
        waitlists[sid] = (await reads.waitlist(pool, organisation, event_id, sid, ALL))[0]["items"]
    return {
        "occupancy": occupancy["sessions"],
        "rooms": rooms["items"],
        "attendees": attendees,
        "waitlists": waitlists,
        "conflicts": conflicts["items"],
    }


async def catch_up(pool: asyncpg.Pool, store: EventStore) -> None:
    """Apply the log to every projection until each has nothing left (the runner, by hand)."""
    for projection in PROJECTIONS:
        async with pool.acquire() as conn:
            await checkpoints.ensure(conn, projection.name)
        while await apply_batch(pool, store, projection, batch_size=50):
            pass


async def whole_log(store: EventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while batch := await store.read_all((len(events) and events[-1].position + 1) or 1, 1000):
        events += batch
    return events
