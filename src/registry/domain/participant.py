"""One participant's registration at one event, folded from their stream."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from registry.domain.event import Event
from registry.domain.events import (
    MovedToWaitlist,
    ParticipantRegistered,
    PersonalDataErased,
    PromotedFromWaitlist,
    RegistrationCancelled,
    SeatAssigned,
    SeatMoved,
    SeatReleased,
    Waitlisted,
    WaitlistLeft,
    WaitlistMoved,
)


@dataclass(frozen=True)
class Participant:
    """Name, e-mail and organisation are not here: they live outside the log
    (registry.eventstore.personal)."""

    participant_id: str
    role: str | None = None
    cancelled: bool = False
    #: Their personal data was erased (PersonalDataErased); seats and entries stay.
    erased: bool = False
    #: session -> ticket, in the order the seats were given
    seats: dict[str, int] = field(default_factory=dict)
    #: session -> ticket
    waiting: dict[str, int] = field(default_factory=dict)
    #: session waited for -> the held seat its entry `replaces` (a fallback even if it does not
    #: overlap: API.md "Sign-up rules")
    replaces: dict[str, str] = field(default_factory=dict)


def evolve(participant: Participant | None, event: Event) -> Participant | None:
    if isinstance(event, ParticipantRegistered):
        return Participant(participant_id=event.participant_id, role=event.role)
    if participant is None:
        return None
    match event:
        case RegistrationCancelled():
            return replace(participant, cancelled=True)
        case PersonalDataErased():
            return replace(participant, erased=True)
        case SeatAssigned():
            return replace(participant, seats={**participant.seats, event.session_id: event.ticket})
        case Waitlisted():
            waiting = {**participant.waiting, event.session_id: event.ticket}
            named = dict(participant.replaces)
            if event.replaces is not None:
                named[event.session_id] = event.replaces
            return replace(participant, waiting=waiting, replaces=named)
        case PromotedFromWaitlist():
            waiting = {k: v for k, v in participant.waiting.items() if k != event.session_id}
            seats = {**participant.seats, event.session_id: event.ticket}
            named = {k: v for k, v in participant.replaces.items() if k != event.session_id}
            return replace(participant, waiting=waiting, seats=seats, replaces=named)
        case SeatReleased():
            seats = {k: v for k, v in participant.seats.items() if k != event.session_id}
            return replace(participant, seats=seats)
        case WaitlistLeft():
            waiting = {k: v for k, v in participant.waiting.items() if k != event.session_id}
            named = {k: v for k, v in participant.replaces.items() if k != event.session_id}
            return replace(participant, waiting=waiting, replaces=named)
        # A merge (as Seating.apply: entries that named the moved seat name where it went).
        case SeatMoved():
            seats = {k: v for k, v in participant.seats.items() if k != event.session_id}
            seats[event.into] = event.ticket
            named = _renamed(participant.replaces, event.session_id, event.into)
            return replace(participant, seats=seats, replaces=named)
        case MovedToWaitlist():
            seats = {k: v for k, v in participant.seats.items() if k != event.session_id}
            waiting = {**participant.waiting, event.into: event.ticket}
            named = _renamed(participant.replaces, event.session_id, None)
            return replace(participant, seats=seats, waiting=waiting, replaces=named)
        case WaitlistMoved():
            waiting = {k: v for k, v in participant.waiting.items() if k != event.session_id}
            waiting[event.into] = event.ticket
            named = {k: v for k, v in participant.replaces.items() if k != event.session_id}
            kept = participant.replaces.get(event.session_id)
            if kept is not None and kept != event.into:
                named[event.into] = kept
            return replace(participant, waiting=waiting, replaces=named)
    return participant


def _renamed(replaces: dict[str, str], old: str, new: str | None) -> dict[str, str]:
    """Entries whose `replaces` named the seat in `old` now name `new` (or nothing)."""
    named: dict[str, str] = {}
    for waited, seat in replaces.items():
        if seat != old:
            named[waited] = seat
        elif new is not None and new != waited:
            named[waited] = new
    return named
