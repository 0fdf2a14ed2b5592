"""Logs of organisers' changes written fact by fact, as the domain would append them, for the
read-side tests (tests/integration/test_read_models_organiser_changes.py).

`Log` hands out each session's tickets in order (the gate's per-session counter) and remembers
each queue entry's ticket, so a scenario names only who does what; every command is one append,
so facts of different commands have different `recorded_at`. `check` writes a scenario once per
batch size and compares the live read models with the fold and a rebuild.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from projections import PROJECTIONS, checkpoints
from projections.rebuild import rebuild
from projections.runner import apply_batch
from registry.domain.event import Event
from registry.domain.events import (
    EventCreated,
    Mode,
    MovedToWaitlist,
    ParticipantRegistered,
    PromotedFromWaitlist,
    RegistrationOpened,
    RoomAdded,
    SeatAssigned,
    SeatMoved,
    SeatReleased,
    SessionScheduled,
    Waitlisted,
    WaitlistLeft,
    WaitlistMoved,
)
from registry.domain.seating import ReleaseReason
from registry.domain.streams import event_stream, participant_stream
from registry.eventstore import (
    ANY,
    EventStore,
    ParticipantDetails,
    PersonalWrite,
    RecordedEvent,
    StreamAppend,
)
from tests.support.read_models import answered, expected, fold, kept_details, whole_log

ORG = "acme"
AMS = dt.timezone(dt.timedelta(hours=1))
PEOPLE = [f"p{n}" for n in range(8)]
ROOMS = {"hall": 4, "attic": 3, "lab": 2, "aula": 6}
# id: (room, start, end, capacity). a and b share a slot; c and d the next; m is later and
# apart (a merge target); o is online and unlimited.
SESSIONS: dict[str, tuple[str | None, float, float, int | None]] = {
    "a": ("hall", 10, 11, 3),
    "b": ("attic", 10, 11, 3),
    "c": ("hall", 11, 12, 3),
    "d": ("lab", 11, 12, 2),
    "o": (None, 13, 14, None),
    "m": ("aula", 14, 15, 3),
}

Fact = tuple[str, Event]  # stream id, event


def at(hour: float) -> dt.datetime:
    return dt.datetime(2024, 1, 11, int(hour), round(hour % 1 * 60), tzinfo=AMS)


def scheduled(sid: str, room: str | None, start: float, end: float, capacity: int | None) -> Event:
    mode: Mode = "in_person" if room else "online"
    return SessionScheduled(
        session_id=sid, title=f"Session {sid}", starts_at=at(start), ends_at=at(end),
        room_id=room, capacity=capacity, mode=mode, waitlist=True,
    )  # fmt: skip


class Log:
    """One event's facts, command by command."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.commands: list[list[Fact]] = []
        self._next_ticket: dict[str, int] = {}
        self._waiting: dict[tuple[str, str], int] = {}  # (session, participant) -> ticket
        self.command(
            self.on_event(
                EventCreated(
                    event_id=event_id, title="Day", timezone="Europe/Amsterdam", date=at(0).date()
                )
            ),
            *(
                self.on_event(RoomAdded(room_id=room, name=room.title(), capacity=capacity))
                for room, capacity in ROOMS.items()
            ),
            *(self.on_event(scheduled(sid, *spec)) for sid, spec in SESSIONS.items()),
            self.on_event(RegistrationOpened()),
        )
        for who in PEOPLE:
            self.command(self.of(who, ParticipantRegistered(participant_id=who)))

    def __len__(self) -> int:
        return sum(len(facts) for facts in self.commands)

    # -- building --------------------------------------------------------------------------

    def command(self, *facts: Fact) -> None:
        self.commands.append(list(facts))

    def on_event(self, event: Event) -> Fact:
        return event_stream(ORG, self.event_id), event

    def of(self, who: str, event: Event) -> Fact:
        return participant_stream(ORG, self.event_id, who), event

    def ticket(self, sid: str) -> int:
        ticket = self._next_ticket.get(sid, 1)
        self._next_ticket[sid] = ticket + 1
        return ticket

    def seat(self, who: str, sid: str) -> Fact:
        return self.of(
            who, SeatAssigned(participant_id=who, session_id=sid, ticket=self.ticket(sid))
        )

    def wait(
        self, who: str, sid: str, replaces: str | None = None, fallbacks: Sequence[str] = ()
    ) -> Fact:
        ticket = self._waiting[sid, who] = self.ticket(sid)
        return self.of(
            who,
            Waitlisted(
                participant_id=who, session_id=sid, ticket=ticket,
                fallback_session_ids=tuple(fallbacks), replaces=replaces,
            ),
        )  # fmt: skip

    def promote(self, who: str, sid: str) -> Fact:
        ticket = self._waiting.pop((sid, who))
        return self.of(who, PromotedFromWaitlist(participant_id=who, session_id=sid, ticket=ticket))

    def release(self, who: str, sid: str, reason: ReleaseReason) -> Fact:
        return self.of(who, SeatReleased(participant_id=who, session_id=sid, reason=reason))

    def leave(self, who: str, sid: str, reason: ReleaseReason) -> Fact:
        del self._waiting[sid, who]
        return self.of(who, WaitlistLeft(participant_id=who, session_id=sid, reason=reason))

    def move(self, who: str, sid: str, into: str) -> Fact:
        ticket = self.ticket(into)
        return self.of(who, SeatMoved(participant_id=who, session_id=sid, into=into, ticket=ticket))

    def move_to_queue(self, who: str, sid: str, into: str) -> Fact:
        ticket = self._waiting[into, who] = self.ticket(into)
        moved = MovedToWaitlist(participant_id=who, session_id=sid, into=into, ticket=ticket)
        return self.of(who, moved)

    def requeue(self, who: str, sid: str, into: str) -> Fact:
        del self._waiting[sid, who]
        ticket = self._waiting[into, who] = self.ticket(into)
        moved = WaitlistMoved(participant_id=who, session_id=sid, into=into, ticket=ticket)
        return self.of(who, moved)


async def append(store: EventStore, log: Log) -> None:
    """Each command as one append, its facts grouped by stream in the order streams first
    appear (the fold and the read models depend on each stream's order and the tickets only);
    a registration's details (`Name <id>`) written with it, as the handlers do."""
    for facts in log.commands:
        streams: dict[str, list[Event]] = {}
        personal: list[PersonalWrite] = []
        for stream_id, event in facts:
            streams.setdefault(stream_id, []).append(event)
            if isinstance(event, ParticipantRegistered):
                who = event.participant_id
                personal.append(
                    ParticipantDetails(
                        organisation=ORG, event_id=log.event_id, participant_id=who,
                        name=f"Name {who}", email=f"{who}@example.org",
                    )
                )  # fmt: skip
        await store.append(
            [StreamAppend(sid, ANY, events) for sid, events in streams.items()], personal=personal
        )


# -- checking ------------------------------------------------------------------------------

BATCH_SIZES = (1, 2, 5, None)  # None: the scenario's facts all in one batch
Scenario = Callable[[Log], None]


def event_of(scenario: Scenario, size: int | None = None) -> str:
    """The event a scenario is written to for one batch size (default: all in one batch)."""
    return f"{scenario.__name__.replace('_', '-')}-{size or 'all'}"


async def feed(pool: asyncpg.Pool, store: EventStore, batch_size: int) -> None:
    for projection in PROJECTIONS:
        async with pool.acquire() as conn:
            await checkpoints.ensure(conn, projection.name)
        while await apply_batch(pool, store, projection, batch_size=batch_size):
            pass


async def check(pool: asyncpg.Pool, store: EventStore, scenario: Scenario) -> list[dict[str, Any]]:
    """Live (in every batch size) == the fold == a rebuild; the answers, one per batch size."""
    logs = []
    for size in BATCH_SIZES:
        log = Log(event_of(scenario, size))
        scenario(log)
        await append(store, log)
        await feed(pool, store, size or len(log))
        logs.append(log)
    events = await whole_log(store)
    live = [await answered(pool, ORG, log.event_id) for log in logs]
    for log, answer in zip(logs, live, strict=True):
        details = await kept_details(pool, ORG, log.event_id)
        assert answer == expected(fold(events, ORG, log.event_id, details)), log.event_id
    for projection in PROJECTIONS:
        await rebuild(pool, store, projection)
    for log, answer in zip(logs, live, strict=True):
        assert await answered(pool, ORG, log.event_id) == answer, log.event_id
    return live


def session(answer: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in answer["occupancy"] if s["session_id"] == sid)


def ranges(answer: dict[str, Any]) -> dict[str, list[str]]:
    return {r["room_id"]: [x["session_id"] for x in r["ranges"]] for r in answer["rooms"]}


def attendees(answer: dict[str, Any], sid: str) -> list[str]:
    return [a["participant_id"] for a in answer["attendees"][sid]]


def queue(answer: dict[str, Any], sid: str) -> list[tuple[str, list[str]]]:
    return [(w["participant_id"], w["fallback_session_ids"]) for w in answer["waitlists"][sid]]


def utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def seated_at(events: list[RecordedEvent], event_id: str, who: str, sid: str) -> str:
    """When `who` was first given a seat in `sid` (SeatAssigned), as the reads give times."""
    return utc(
        next(
            e.recorded_at
            for e in events
            if e.stream_id == participant_stream(ORG, event_id, who)
            and isinstance(e.event, SeatAssigned)
            and e.event.session_id == sid
        )
    )
