"""One event's state at a log position, folded from its streams through the domain: the
programme with `registry.domain.programme.evolve`, the seats with `Seating.apply`. Pure: no I/O.

This is what the organisers' reads answer when replayed (`?as_of=`, replay_answers.py) and what
`registry verify` compares the live read models with; the read-model property tests use it as
the definition of correct. The programme and the seats are folded in one pass in position order,
so that every session carries the times, capacity and state in force at each position (a fold
of the final programme first would show a past state with today's times).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from registry.domain import programme as rules
from registry.domain.event import Event
from registry.domain.events import ParticipantRegistered, SeatEvent, seat_change
from registry.domain.programme import Programme, Session
from registry.domain.seating import (
    Change,
    Moved,
    MovedToQueue,
    Promoted,
    Released,
    Seated,
    Seating,
    SessionSeats,
    Waiting,
)
from registry.domain.streams import event_stream, participant_stream_prefix

#: When a seat was first given and at which log position.
Given = tuple[dt.datetime, int]


class Fact(Protocol):
    """What the fold needs of a stored event (RecordedEvent has it)."""

    @property
    def position(self) -> int: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def event(self) -> Event: ...
    @property
    def recorded_at(self) -> dt.datetime: ...


class Unfoldable(ValueError):
    """A fact the state cannot take (a seat in a session that does not exist, a release of a
    seat nobody holds, a programme change before the event was created)."""

    def __init__(self, position: int, what: str) -> None:
        super().__init__(f"position {position}: {what}")
        self.position = position
        self.what = what


@dataclass
class Replayed:
    organisation: str
    event_id: str
    #: The last position folded, and how many facts of this event were folded up to it (the
    #: snapshots are taken every K facts of the event, replay.py).
    position: int = 0
    count: int = 0
    programme: Programme | None = None
    seating: Seating = field(default_factory=Seating)
    #: Who registered, as of the position (names are not in the log: participant_details).
    registered: set[str] = field(default_factory=set)
    #: Session -> participant -> when and at which log position their seat was first given (a
    #: seat a merge moved keeps both: attendees are listed in that order, API.md).
    given: dict[str, dict[str, Given]] = field(default_factory=dict)
    event_stream: str = field(init=False)
    participant_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.event_stream = event_stream(self.organisation, self.event_id)
        self.participant_prefix = participant_stream_prefix(self.organisation, self.event_id)

    def concerns(self, stream_id: str) -> bool:
        return stream_id == self.event_stream or stream_id.startswith(self.participant_prefix)

    def attendees(self, session_id: str) -> list[tuple[str, Given]]:
        """Who holds a seat, in the order the seats were given."""
        held = self.given.get(session_id, {})
        return sorted(held.items(), key=lambda item: item[1][1])


def fold(
    facts: list[Fact] | tuple[Fact, ...],
    organisation: str,
    event_id: str,
    state: Replayed | None = None,
) -> Replayed:
    """Fold the facts of one event (others are skipped) into `state` (or a new one)."""
    state = state or Replayed(organisation, event_id)
    for fact in facts:
        if state.concerns(fact.stream_id):
            apply(state, fact)
    return state


def apply(state: Replayed, fact: Fact) -> list[Change]:
    """Fold one fact of this event; returns the seating change it stood for, if any.
    Raises Unfoldable when the fact does not fit the state (the state is then unusable)."""
    event = fact.event
    changes: list[Change] = []
    try:
        if fact.stream_id == state.event_stream:
            before = state.programme
            state.programme = rules.evolve(before, event)
            entry = (
                None
                if before is None
                else rules.changed_entry(before.rooms, before.sessions, event)
            )
            if isinstance(entry, Session):
                _follow(state.seating, entry)  # this one session changed, no other
            elif entry is None:  # a fact about the whole event (a room touches no seats)
                _follow_programme(state.seating, state.programme)
        elif isinstance(event, ParticipantRegistered):
            state.registered.add(event.participant_id)
        elif isinstance(event, SeatEvent):
            change = seat_change(event)
            state.seating.apply(change)
            _remember_seat(state, change, fact)
            changes.append(change)
    except (KeyError, ValueError) as error:
        raise Unfoldable(fact.position, f"{event.type_name} does not fold: {error!r}") from error
    state.position = fact.position
    state.count += 1
    return changes


def _follow_programme(seating: Seating, programme: Programme) -> None:
    """The seating's sessions take the programme's times, capacity and state (seats and queues
    are the seat facts' business): every session, after a fact about the whole event."""
    for s in programme.sessions.values():
        _follow(seating, s)


def _follow(seating: Seating, s: Session) -> None:
    """One session's times, capacity and state, after a fact about it alone. Walking every
    session per programme fact made `verify` and `?as_of=` quadratic in the programme: 31 s
    and 7.4 s for an event of 10,000 sessions (bench/README.md, "2026-12-06, late evening")."""
    seats = seating.sessions.get(s.session_id)
    if seats is None:
        seating.sessions[s.session_id] = seats_of(s)
        return
    seats.starts_at, seats.ends_at = s.starts_at, s.ends_at
    seats.capacity, seats.waitlist = s.capacity, s.waitlist
    seats.state, seats.merged_into = s.state, s.merged_into


def seats_of(
    s: Session,
    seated: dict[str, int] | None = None,
    waiting: dict[str, Waiting] | None = None,
    next_ticket: int = 1,
) -> SessionSeats:
    """A session's seats as the programme has it: times, capacity, state (and, from a snapshot,
    who sits and waits there)."""
    return SessionSeats(
        s.session_id,
        s.starts_at,
        s.ends_at,
        s.capacity,
        s.waitlist,
        state=s.state,
        merged_into=s.merged_into,
        seated=seated if seated is not None else {},
        waiting=waiting if waiting is not None else {},
        next_ticket=next_ticket,
    )


def _remember_seat(state: Replayed, change: Change, fact: Fact) -> None:
    given = state.given
    match change:
        case Seated() | Promoted():
            held = given.setdefault(change.session_id, {})
            held[change.participant_id] = (fact.recorded_at, fact.position)
        case Moved():
            kept = _forget(given, change.session_id, change.participant_id)
            given.setdefault(change.into, {})[change.participant_id] = kept
        case Released() | MovedToQueue():
            _forget(given, change.session_id, change.participant_id)


def _forget(given: dict[str, dict[str, Given]], session_id: str, participant_id: str) -> Given:
    held = given[session_id]
    kept = held.pop(participant_id)
    if not held:  # a session nobody holds a seat in has no entry (as a decoded snapshot)
        del given[session_id]
    return kept
