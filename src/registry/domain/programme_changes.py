"""Organisers' changes that move seats: decided on the programme and the seating together.

Each `decide_*` takes the programme and a Seating folded from the log (inside the gate's fence,
handlers/organiser_changes.py), applies the rules of registry.domain.reseating to the seating in
place, and returns the `Outcome`: the programme's events, the seat facts in order, the conflicts
the change created, and the answer's body (API.md "Organiser: the programme").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec

from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain import reseating
from registry.domain.changes import Change, MovedToQueue, Promoted, Requeued
from registry.domain.changes import Moved as SeatMove
from registry.domain.errors import (
    EventCancelled,
    InvalidCommand,
    NoSuchSession,
    SessionCancelled,
    UnknownId,
)
from registry.domain.event import Event
from registry.domain.events import EventCancelled as EventWasCancelled
from registry.domain.events import (
    EventWentOnline,
    RegistrationClosed,
    RegistrationClosingScheduled,
    SessionCapacityChanged,
    SessionDescribed,
    SessionRescheduled,
    SessionsMerged,
)
from registry.domain.events import SessionCancelled as SessionWasCancelled
from registry.domain.programme import Programme, Session
from registry.domain.seating import Seating


@dataclass
class Outcome:
    events: list[Event]
    changes: list[Change] = field(default_factory=list)
    #: Participants who hold overlapping seats since this change (told by `SeatsOverlapped`).
    overlaps: reseating.Conflicts = field(default_factory=dict)
    body: dict[str, object] = field(default_factory=dict)


def decide_patch(
    programme: Programme, seating: Seating, session_id: str, command: cmd.PatchSession
) -> Outcome:
    known = _open_session(programme, session_id)
    wanted = _patched(programme, known, command)
    checked = rules.checked_session(programme, wanted)
    events: list[Event] = []
    if checked.title != known.title:
        events.append(
            SessionDescribed(
                session_id=session_id,
                title=checked.title,
                hosts=known.hosts,
                description=known.description,
            )
        )
    before = reseating.conflicts(seating)
    changes: list[Change] = []
    if (checked.starts_at, checked.ends_at) != (known.starts_at, known.ends_at):
        events.append(
            SessionRescheduled(
                session_id=session_id, starts_at=checked.starts_at, ends_at=checked.ends_at
            )
        )
        reseating.reschedule(seating, session_id, checked.starts_at, checked.ends_at)
    if (checked.capacity, checked.room_id, checked.mode) != (
        known.capacity,
        known.room_id,
        known.mode,
    ):
        events.append(
            SessionCapacityChanged(
                session_id=session_id,
                capacity=checked.capacity,
                room_id=checked.room_id,
                mode=checked.mode,
            )
        )
        changes = reseating.change_capacity(seating, session_id, checked.capacity)
    after = reseating.conflicts(seating)
    return Outcome(
        events,
        changes,
        reseating.new_conflicts(before, after),
        {
            "over_capacity": seating.sessions[session_id].over_capacity,
            "promoted": _promoted(changes),
            "conflicts": sorted(p for p, ids in after.items() if session_id in ids),
        },
    )


def decide_cancel_session(
    programme: Programme, seating: Seating, session_id: str, command: cmd.CancelSession
) -> Outcome:
    _open_session(programme, session_id)
    changes = reseating.cancel(seating, session_id, "session-cancelled")
    return Outcome(
        [SessionWasCancelled(session_id=session_id, reason=command.reason)],
        changes,
        body={"released": _people(changes)},
    )


def decide_merge(
    programme: Programme, seating: Seating, session_id: str, command: cmd.MergeSessions
) -> Outcome:
    _open_session(programme, session_id)
    target = programme.sessions.get(command.into)
    if target is None:
        raise UnknownId("session", command.into, "into")
    if target.state != "open":
        raise SessionCancelled(target.session_id, target.merged_into)
    before = reseating.conflicts(seating)
    changes = reseating.merge(seating, session_id, command.into)
    after = reseating.conflicts(seating)
    return Outcome(
        [SessionsMerged(session_id=session_id, into=command.into)],
        changes,
        reseating.new_conflicts(before, after),
        {
            "moved": [c.participant_id for c in changes if isinstance(c, SeatMove)],
            "waitlisted": [
                c.participant_id for c in changes if isinstance(c, MovedToQueue | Requeued)
            ],
            "promoted": _promoted(changes),
        },
    )


def decide_cancel_event(
    programme: Programme, seating: Seating, command: cmd.CancelEvent
) -> Outcome:
    not_cancelled(programme)
    changes = reseating.cancel_all(seating)
    return Outcome(
        [EventWasCancelled(reason=command.reason)], changes, body={"released": _people(changes)}
    )


def decide_go_online(programme: Programme, seating: Seating, command: cmd.GoOnline) -> Outcome:
    not_cancelled(programme)
    changes = reseating.go_online(seating, command.capacity)
    return Outcome(
        [EventWentOnline(reason=command.reason, capacity=command.capacity)],
        changes,
        body={"promoted": _promoted(changes)},
    )


def decide_close_registration(
    programme: Programme, command: cmd.CloseRegistration, now: dt.datetime
) -> list[Event]:
    """Close now (closing a closed event writes nothing), or schedule the closing."""
    not_cancelled(programme)
    at = command.at
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise InvalidCommand("at needs a UTC offset", "at")
    if at is not None and at > now:
        if programme.closes_at == at:
            return []
        return [RegistrationClosingScheduled(closes_at=at)]
    if programme.registration == "closed":
        return []
    return [RegistrationClosed()]


def closing_due(programme: Programme, now: dt.datetime) -> bool:
    """The scheduled closing has come (the upkeep task closes registration)."""
    return (
        programme.registration == "open"
        and programme.closes_at is not None
        and programme.closes_at <= now
    )


# -- steps ---------------------------------------------------------------------------------------


def not_cancelled(programme: Programme) -> Programme:
    """The programme, if its event is not cancelled (nothing changes a cancelled event)."""
    if programme.state == "cancelled":
        raise EventCancelled(programme.event_id)
    return programme


def _open_session(programme: Programme, session_id: str) -> Session:
    not_cancelled(programme)
    session = programme.sessions.get(session_id)
    if session is None:
        raise NoSuchSession(session_id)
    if session.state != "open":
        raise SessionCancelled(session_id, session.merged_into)
    return session


def _patched(
    programme: Programme, known: Session, command: cmd.PatchSession
) -> cmd.ScheduleSession:
    """The session as it would be, as a ScheduleSession for the same checks as a new one."""

    def pick(value: object, current: object) -> object:
        return current if value is msgspec.UNSET else value

    room_id = pick(command.room_id, known.room_id)
    if command.capacity is not msgspec.UNSET:
        capacity = command.capacity
    elif room_id != known.room_id and isinstance(room_id, str) and room_id in programme.rooms:
        capacity = None  # a new room: its capacity, as for a new session
    else:
        capacity = known.capacity
    mode = pick(command.mode, known.mode)
    if capacity is None and mode != "online" and room_id is None:
        raise InvalidCommand(
            "a session needs a room or a capacity (only online sessions may be unlimited)",
            "capacity",
        )
    return msgspec.convert(
        {
            "id": known.session_id,
            "title": pick(command.title, known.title),
            "starts_at": pick(command.starts_at, known.starts_at),
            "ends_at": pick(command.ends_at, known.ends_at),
            "room_id": room_id,
            "capacity": capacity,
            "mode": mode,
            "waitlist": known.waitlist,
            "hosts": list(known.hosts),
            "description": known.description,
        },
        cmd.ScheduleSession,
        from_attributes=False,
    )


def _promoted(changes: list[Change]) -> list[str]:
    return [c.participant_id for c in changes if isinstance(c, Promoted)]


def _people(changes: list[Change]) -> list[str]:
    return list(dict.fromkeys(c.participant_id for c in changes))
