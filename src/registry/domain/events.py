"""Every fact the log can hold: one immutable Struct per fact, named in the past tense.

Streams (DESIGN.md section 2; ids built in registry.domain.streams):
- `event-<org>:<event>`: the event, its rooms and sessions, the registration window;
- `participant-<org>:<event>:<participant>`: one person's registration, seats and waitlist entries.
Seat facts carry the gate's per-session ticket: waitlists are ordered by it, not by log position.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from registry.domain.changes import (
    Change,
    Dequeued,
    Moved,
    MovedToQueue,
    Promoted,
    Queued,
    Released,
    ReleaseReason,
    Requeued,
    Seated,
)
from registry.domain.event import Event

Mode = Literal["in_person", "online", "hybrid"]

# -- the programme (stream event-<org>:<event>) ----------------------------------------------


class EventCreated(Event, frozen=True):
    type_name = "EventCreated"
    event_id: str
    title: str
    timezone: str
    date: dt.date
    end_date: dt.date | None = None
    venue: str | None = None


class RoomAdded(Event, frozen=True):
    type_name = "RoomAdded"
    room_id: str
    name: str
    capacity: int
    location: str | None = None


class RoomChanged(Event, frozen=True):
    type_name = "RoomChanged"
    room_id: str
    name: str
    capacity: int
    location: str | None = None


class SessionScheduled(Event, frozen=True):
    type_name = "SessionScheduled"
    session_id: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    room_id: str | None
    capacity: int | None  # None: unlimited (online only)
    mode: Mode
    waitlist: bool
    hosts: tuple[str, ...] = ()
    description: str | None = None


class SessionDescribed(Event, frozen=True):
    """Title, hosts or description changed: nothing that touches seats."""

    type_name = "SessionDescribed"
    session_id: str
    title: str
    hosts: tuple[str, ...] = ()
    description: str | None = None


class RegistrationOpened(Event, frozen=True):
    type_name = "RegistrationOpened"


class RegistrationClosed(Event, frozen=True):
    type_name = "RegistrationClosed"


class RegistrationClosingScheduled(Event, frozen=True):
    """Registration closes by itself at `closes_at` (None: the schedule is withdrawn); the
    upkeep task appends `RegistrationClosed` once that time has passed."""

    type_name = "RegistrationClosingScheduled"
    closes_at: dt.datetime | None


# -- organisers' changes to seat-bearing sessions (same stream; each decided in the gate fence) --


class SessionCapacityChanged(Event, frozen=True):
    """A session's seats changed: its capacity, its room, or its mode (None: unlimited)."""

    type_name = "SessionCapacityChanged"
    session_id: str
    capacity: int | None
    room_id: str | None
    mode: Mode


class SessionRescheduled(Event, frozen=True):
    type_name = "SessionRescheduled"
    session_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class SessionCancelled(Event, frozen=True):
    type_name = "SessionCancelled"
    session_id: str
    reason: str


class SessionsMerged(Event, frozen=True):
    """`session_id` merged into `into`: its seats and queue moved there (participant facts
    `SeatMoved`, `MovedToWaitlist`, `WaitlistMoved` in the same append)."""

    type_name = "SessionsMerged"
    session_id: str
    into: str


class EventCancelled(Event, frozen=True):
    type_name = "EventCancelled"
    reason: str


class EventWentOnline(Event, frozen=True):
    """Every open session turned online, rooms released, capacity `capacity` (None:
    unlimited)."""

    type_name = "EventWentOnline"
    reason: str
    capacity: int | None


# -- a participant (stream participant-<org>:<event>:<participant>) --------------------------


def _without_personal_data(data: dict[str, Any]) -> dict[str, Any]:
    """ParticipantRegistered 1 -> 2: name, e-mail and organisation are dropped on read. Rows of
    version 1 still hold them (the log is never rewritten); migrations/0041 copied them into
    `participant_details`, where reads take names from."""
    return {key: data[key] for key in ("participant_id", "role") if key in data}


class ParticipantRegistered(Event, frozen=True):
    """Who registered, without who they are: name, e-mail and organisation live outside the log
    (`participant_details`, written in the same transaction: EventStore.append's `personal`), so
    that erasing them rewrites no event."""

    type_name = "ParticipantRegistered"
    schema_version = 2
    upcasters = {1: _without_personal_data}
    participant_id: str
    role: str | None = None


class PersonalDataErased(Event, frozen=True):
    """The participant's name, e-mail and organisation were erased from `participant_details`
    on request; their seats and waitlist entries stay (erasure is not cancellation)."""

    type_name = "PersonalDataErased"
    participant_id: str


class EmailClaimed(Event, frozen=True):
    """The only event of an `email-<org>:<event>:<digest>` stream (the digest an HMAC of the
    address, registry.domain.streams.email_stream): appending it with "the stream must not exist"
    makes one participant per e-mail per event atomic, with no shared table."""

    type_name = "EmailClaimed"
    participant_id: str


class RegistrationCancelled(Event, frozen=True):
    type_name = "RegistrationCancelled"
    participant_id: str


class SeatAssigned(Event, frozen=True):
    type_name = "SeatAssigned"
    participant_id: str
    session_id: str
    ticket: int
    replaced_session_id: str | None = None


class Waitlisted(Event, frozen=True):
    type_name = "Waitlisted"
    participant_id: str
    session_id: str
    ticket: int
    fallback_session_ids: tuple[str, ...] = ()
    replaces: str | None = None


class PromotedFromWaitlist(Event, frozen=True):
    type_name = "PromotedFromWaitlist"
    participant_id: str
    session_id: str
    ticket: int


class SeatReleased(Event, frozen=True):
    type_name = "SeatReleased"
    participant_id: str
    session_id: str
    reason: ReleaseReason


class WaitlistLeft(Event, frozen=True):
    type_name = "WaitlistLeft"
    participant_id: str
    session_id: str
    reason: ReleaseReason


class SeatMoved(Event, frozen=True):
    """A merge moved the seat from `session_id` into `into` (keeping when it was first given);
    `ticket` is the seat's ticket in `into`. Someone already seated there keeps that one seat."""

    type_name = "SeatMoved"
    participant_id: str
    session_id: str
    into: str
    ticket: int


class MovedToWaitlist(Event, frozen=True):
    """A merge found `into` full: the seat in `session_id` became an entry in `into`'s queue."""

    type_name = "MovedToWaitlist"
    participant_id: str
    session_id: str
    into: str
    ticket: int


class WaitlistMoved(Event, frozen=True):
    """A merge moved the entry in `session_id`'s queue to the end of `into`'s."""

    type_name = "WaitlistMoved"
    participant_id: str
    session_id: str
    into: str
    ticket: int


class SeatsOverlapped(Event, frozen=True):
    """An organiser's change (a reschedule, a merge) left the participant holding seats at
    overlapping times: a conflict for the organiser to resolve."""

    type_name = "SeatsOverlapped"
    participant_id: str
    session_ids: tuple[str, ...]


SeatEvent = (
    SeatAssigned
    | Waitlisted
    | PromotedFromWaitlist
    | SeatReleased
    | WaitlistLeft
    | SeatMoved
    | MovedToWaitlist
    | WaitlistMoved
)

ALL_EVENTS: tuple[type[Event], ...] = (
    EventCreated,
    RoomAdded,
    RoomChanged,
    SessionScheduled,
    SessionDescribed,
    RegistrationOpened,
    RegistrationClosed,
    RegistrationClosingScheduled,
    SessionCapacityChanged,
    SessionRescheduled,
    SessionCancelled,
    SessionsMerged,
    EventCancelled,
    EventWentOnline,
    ParticipantRegistered,
    EmailClaimed,
    RegistrationCancelled,
    PersonalDataErased,
    SeatAssigned,
    Waitlisted,
    PromotedFromWaitlist,
    SeatReleased,
    WaitlistLeft,
    SeatMoved,
    MovedToWaitlist,
    WaitlistMoved,
    SeatsOverlapped,
)


def seat_event(change: Change) -> SeatEvent:
    """The fact to store for one seating change."""
    match change:
        case Seated():
            return SeatAssigned(
                participant_id=change.participant_id,
                session_id=change.session_id,
                ticket=change.ticket,
                replaced_session_id=change.replaced_session_id,
            )
        case Queued():
            return Waitlisted(
                participant_id=change.participant_id,
                session_id=change.session_id,
                ticket=change.ticket,
                fallback_session_ids=change.fallback_session_ids,
                replaces=change.replaces,
            )
        case Promoted():
            return PromotedFromWaitlist(
                participant_id=change.participant_id,
                session_id=change.session_id,
                ticket=change.ticket,
            )
        case Released():
            return SeatReleased(
                participant_id=change.participant_id,
                session_id=change.session_id,
                reason=change.reason,
            )
        case Dequeued():
            return WaitlistLeft(
                participant_id=change.participant_id,
                session_id=change.session_id,
                reason=change.reason,
            )
        case Moved(participant_id=p, session_id=s, into=i, ticket=t):
            return SeatMoved(participant_id=p, session_id=s, into=i, ticket=t)
        case MovedToQueue(participant_id=p, session_id=s, into=i, ticket=t):
            return MovedToWaitlist(participant_id=p, session_id=s, into=i, ticket=t)
        case Requeued(participant_id=p, session_id=s, into=i, ticket=t):
            return WaitlistMoved(participant_id=p, session_id=s, into=i, ticket=t)


def seat_change(event: SeatEvent) -> Change:
    """The seating change a stored fact stands for (to fold the log into a Seating)."""
    match event:
        case SeatAssigned():
            return Seated(
                event.participant_id, event.session_id, event.ticket, event.replaced_session_id
            )
        case Waitlisted():
            return Queued(
                event.participant_id,
                event.session_id,
                event.ticket,
                event.fallback_session_ids,
                event.replaces,
            )
        case PromotedFromWaitlist():
            return Promoted(event.participant_id, event.session_id, event.ticket)
        case SeatReleased():
            return Released(event.participant_id, event.session_id, event.reason)
        case WaitlistLeft():
            return Dequeued(event.participant_id, event.session_id, event.reason)
        case SeatMoved():
            return Moved(event.participant_id, event.session_id, event.into, event.ticket)
        case MovedToWaitlist():
            return MovedToQueue(event.participant_id, event.session_id, event.into, event.ticket)
        case WaitlistMoved():
            return Requeued(event.participant_id, event.session_id, event.into, event.ticket)
