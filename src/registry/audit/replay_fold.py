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
from registry.domain.programme import Programme
from registry.domain.seating import (
    Change,
    Moved,
    MovedToQueue,
    Promoted,
    Released,
    Seated,
    Seating,
    SessionSeats,
)
from registry.domain.streams import event_stream, participant_stream_prefix

#: (session, participant): one seat.
Seat = tuple[str, str]


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
    #: Each seat held: when and at which log position it was first given (a seat a merge moved
    #: keeps both: attendees are listed in that order, API.md).
    seated_at: dict[Seat, dt.datetime] = field(default_factory=dict)
    seated_position: dict[Seat, int] = field(default_factory=dict)

    @property
    def event_stream(self) -> str:
        return event_stream(self.organisation, self.event_id)

    @property
    def participant_prefix(self) -> str:
        return participant_stream_prefix(self.organisation, self.event_id)

    def concerns(self, stream_id: str) -> bool:
        return stream_id == self.event_stream or stream_id.startswith(self.participant_prefix)

    def attendees(self, session_id: str) -> list[str]:
        seated = self.seating.sessions[session_id].seated
        return sorted(seated, key=lambda who: self.seated_position[session_id, who])


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
            state.programme = rules.evolve(state.programme, event)
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
    are the seat facts' business). Programme facts are few: every session is looked at."""
    for s in programme.sessions.values():
        seats = seating.sessions.get(s.session_id)
        if seats is None:
            seating.sessions[s.session_id] = SessionSeats(
                s.session_id,
                s.starts_at,
                s.ends_at,
                s.capacity,
                s.waitlist,
                state=s.state,
                merged_into=s.merged_into,
            )
            continue
        seats.starts_at, seats.ends_at = s.starts_at, s.ends_at
        seats.capacity, seats.waitlist = s.capacity, s.waitlist
        seats.state, seats.merged_into = s.state, s.merged_into


def _remember_seat(state: Replayed, change: Change, fact: Fact) -> None:
    match change:
        case Seated() | Promoted():
            seat = change.session_id, change.participant_id
            state.seated_at[seat] = fact.recorded_at
            state.seated_position[seat] = fact.position
        case Moved():
            source = change.session_id, change.participant_id
            into = change.into, change.participant_id
            state.seated_at[into] = state.seated_at.pop(source)
            state.seated_position[into] = state.seated_position.pop(source)
        case Released() | MovedToQueue():
            seat = change.session_id, change.participant_id
            state.seated_at.pop(seat, None)
            state.seated_position.pop(seat, None)
