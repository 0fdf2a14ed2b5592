"""An event's programme: its days, rooms, sessions and registration window, with the rules that
need no seat counter (those live in seating.py and the gate).

`decide_*` functions take the current programme and a command and return the events to append (or
raise a DomainError); `evolve` folds one event into the programme. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from registry.domain import commands as cmd
from registry.domain.errors import AlreadyExists, InvalidCommand, RoomConflict, UnknownId
from registry.domain.event import Event
from registry.domain.events import (
    EventCancelled,
    EventCreated,
    EventWentOnline,
    Mode,
    RegistrationClosed,
    RegistrationClosingScheduled,
    RegistrationOpened,
    RoomAdded,
    RoomChanged,
    SessionCancelled,
    SessionCapacityChanged,
    SessionDescribed,
    SessionRescheduled,
    SessionScheduled,
    SessionsMerged,
)

Registration = Literal["open", "closed"]


@dataclass(frozen=True)
class Room:
    room_id: str
    name: str
    capacity: int
    location: str | None = None


@dataclass(frozen=True)
class Session:
    session_id: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    room_id: str | None
    capacity: int | None
    mode: Mode
    waitlist: bool
    hosts: tuple[str, ...] = ()
    description: str | None = None
    state: Literal["open", "cancelled", "merged"] = "open"
    merged_into: str | None = None

    def overlaps(self, other: Session) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


@dataclass(frozen=True)
class Programme:
    event_id: str
    title: str
    timezone: str
    date: dt.date
    end_date: dt.date | None = None
    venue: str | None = None
    rooms: dict[str, Room] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    registration: Registration = "closed"
    #: When registration closes by itself (None: only when an organiser closes it).
    closes_at: dt.datetime | None = None
    state: Literal["scheduled", "cancelled", "online"] = "scheduled"

    @property
    def last_day(self) -> dt.date:
        return self.end_date or self.date


# -- deciding ----------------------------------------------------------------------------------


def decide_create(command: cmd.CreateEvent) -> list[Event]:
    try:
        ZoneInfo(command.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidCommand(f"unknown time zone {command.timezone!r}", "timezone") from None
    if command.end_date is not None and command.end_date < command.date:
        raise InvalidCommand("end_date is before date", "end_date")
    return [
        EventCreated(
            event_id=command.id,
            title=command.title,
            timezone=command.timezone,
            date=command.date,
            end_date=command.end_date,
            venue=command.venue,
        )
    ]


def decide_add_room(programme: Programme, command: cmd.AddRoom) -> list[Event]:
    if command.id in programme.rooms:
        raise AlreadyExists("room", command.id)
    return [_room_event(RoomAdded, command)]


def decide_schedule(programme: Programme, command: cmd.ScheduleSession) -> list[Event]:
    if command.id in programme.sessions:
        raise AlreadyExists("session", command.id)
    session = checked_session(programme, command)
    return [_scheduled(session)]


def decide_replace(programme: Programme, command: cmd.ReplaceProgramme) -> list[Event]:
    """The whole programme in one command: new ids are added, known ids updated.

    Until organisers' changes land (capacity, room, times and mode go through the gate, as
    PATCH does), a known session may change only its title, hosts and description here.
    """
    events: list[Event] = []
    # Working copies, not a programme per fact (evolve copies every session), and conflicts
    # looked up by room: with 10,000 sessions a PUT of 2,000 spent ~0.6 s here, in the fence.
    rooms = dict(programme.rooms)
    for room in command.rooms:
        known = rooms.get(room.id)
        if known is None:
            event: Event = _room_event(RoomAdded, room)
        elif (known.name, known.capacity, known.location) != (
            room.name,
            room.capacity,
            room.location,
        ):
            for existing in programme.sessions.values():
                if existing.room_id == room.id and (existing.capacity or 0) > room.capacity:
                    raise InvalidCommand(
                        f"room {room.id} would hold fewer seats than session "
                        f"{existing.session_id}; change the session's capacity first (PATCH)",
                        "rooms.capacity",
                    )
            event = _room_event(RoomChanged, room)
        else:
            continue
        events.append(event)
        rooms[room.id] = Room(room.id, room.name, room.capacity, room.location)
    current = replace(programme, rooms=rooms)
    sessions = dict(programme.sessions)
    by_room: dict[str | None, list[Session]] = {}
    for existing in sessions.values():
        by_room.setdefault(existing.room_id, []).append(existing)
    for index, session in enumerate(command.sessions):
        known_session = sessions.get(session.id)
        if known_session is None:
            checked = checked_session(
                current, session, field_prefix=f"sessions[{index}].", by_room=by_room
            )
            event = _scheduled(checked)
            by_room.setdefault(checked.room_id, []).append(checked)
        else:
            _refuse_seat_changes(known_session, current, session, index)
            if (known_session.title, known_session.hosts, known_session.description) == (
                session.title,
                tuple(session.hosts),
                session.description,
            ):
                continue
            event = SessionDescribed(
                session_id=session.id,
                title=session.title,
                hosts=tuple(session.hosts),
                description=session.description,
            )
        events.append(event)
        entry = changed_entry(rooms, sessions, event)
        assert isinstance(entry, Session)
        sessions[entry.session_id] = entry
    return events


def decide_registration(programme: Programme, open_it: bool) -> list[Event]:
    """Opening an open event (or closing a closed one) writes nothing."""
    wanted: Registration = "open" if open_it else "closed"
    if programme.registration == wanted:
        return []
    return [RegistrationOpened() if open_it else RegistrationClosed()]


# -- folding -----------------------------------------------------------------------------------


def evolve(programme: Programme | None, event: Event) -> Programme:
    """One fact folded in. Many at once: `programme_fold.fold`, the same result in linear time."""
    if isinstance(event, EventCreated):
        return Programme(
            event_id=event.event_id,
            title=event.title,
            timezone=event.timezone,
            date=event.date,
            end_date=event.end_date,
            venue=event.venue,
        )
    if programme is None:
        raise ValueError(f"{event.type_name} before EventCreated")
    entry = changed_entry(programme.rooms, programme.sessions, event)
    if isinstance(entry, Room):
        return replace(programme, rooms={**programme.rooms, entry.room_id: entry})
    if isinstance(entry, Session):
        return replace(programme, sessions={**programme.sessions, entry.session_id: entry})
    match event:
        case RegistrationOpened():
            return replace(programme, registration="open")
        case RegistrationClosed():
            return replace(programme, registration="closed", closes_at=None)
        case RegistrationClosingScheduled():
            return replace(programme, closes_at=event.closes_at)
        case EventCancelled():
            return replace(
                _each_open_session(programme, state="cancelled"),
                state="cancelled",
                registration="closed",
                closes_at=None,
            )
        case EventWentOnline():
            online = _each_open_session(
                programme, mode="online", room_id=None, capacity=event.capacity
            )
            return replace(online, state="online")
    return programme


def changed_entry(
    rooms: Mapping[str, Room], sessions: Mapping[str, Session], event: Event
) -> Room | Session | None:
    """What a fact that changes one room or session only makes of it (None: any other fact)."""
    match event:
        case RoomAdded() | RoomChanged():
            return Room(event.room_id, event.name, event.capacity, event.location)
        case SessionScheduled():
            return Session(
                session_id=event.session_id,
                title=event.title,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                room_id=event.room_id,
                capacity=event.capacity,
                mode=event.mode,
                waitlist=event.waitlist,
                hosts=event.hosts,
                description=event.description,
            )
        case SessionDescribed():
            return replace(
                sessions[event.session_id],
                title=event.title,
                hosts=event.hosts,
                description=event.description,
            )
        case SessionCapacityChanged():
            return replace(
                sessions[event.session_id],
                capacity=event.capacity,
                room_id=event.room_id,
                mode=event.mode,
            )
        case SessionRescheduled():
            return replace(
                sessions[event.session_id], starts_at=event.starts_at, ends_at=event.ends_at
            )
        case SessionCancelled():
            return replace(sessions[event.session_id], state="cancelled")
        case SessionsMerged():
            return replace(sessions[event.session_id], state="merged", merged_into=event.into)
    return None


def _each_open_session(programme: Programme, **changes: object) -> Programme:
    sessions = {
        sid: replace(s, **changes) if s.state == "open" else s  # type: ignore[arg-type]
        for sid, s in programme.sessions.items()
    }
    return replace(programme, sessions=sessions)


# -- rules -------------------------------------------------------------------------------------


def checked_session(
    programme: Programme,
    command: cmd.ScheduleSession,
    field_prefix: str = "",
    by_room: Mapping[str | None, Sequence[Session]] | None = None,
) -> Session:
    """Checked against the programme; `by_room`: its sessions by room, if the caller has them."""
    for name, value in (("starts_at", command.starts_at), ("ends_at", command.ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidCommand(f"{name} needs a UTC offset", field_prefix + name)
    if command.ends_at <= command.starts_at:
        raise InvalidCommand("ends_at must be after starts_at", field_prefix + "ends_at")
    zone = ZoneInfo(programme.timezone)
    first = command.starts_at.astimezone(zone).date()
    # A session may end at midnight after the last day: its last instant is still that day.
    last = (command.ends_at - dt.timedelta(microseconds=1)).astimezone(zone).date()
    if first < programme.date or last > programme.last_day:
        raise InvalidCommand(
            f"the session must lie within the event's days ({programme.date} to "
            f"{programme.last_day}, {programme.timezone})",
            field_prefix + "starts_at",
        )
    capacity = command.capacity
    if command.room_id is not None:
        room = programme.rooms.get(command.room_id)
        if room is None:
            raise UnknownId("room", command.room_id, field_prefix + "room_id")
        if capacity is None:
            capacity = room.capacity
        elif capacity > room.capacity:
            raise InvalidCommand(
                f"capacity {capacity} exceeds room {room.room_id}'s {room.capacity}",
                field_prefix + "capacity",
            )
    elif capacity is None and command.mode != "online":
        raise InvalidCommand(
            "a session needs a room or a capacity (only online sessions may be unlimited)",
            field_prefix + "capacity",
        )
    session = Session(
        session_id=command.id,
        title=command.title,
        starts_at=command.starts_at,
        ends_at=command.ends_at,
        room_id=command.room_id,
        capacity=capacity,
        mode=command.mode,
        waitlist=command.waitlist,
        hosts=tuple(command.hosts),
        description=command.description,
    )
    if session.room_id is not None:
        in_room = (
            programme.sessions.values() if by_room is None else by_room.get(session.room_id, ())
        )
        for other in in_room:
            if (
                other.room_id == session.room_id
                and other.session_id != session.session_id
                and other.state == "open"
                and other.overlaps(session)
            ):
                raise RoomConflict(session.room_id, session.session_id, other.session_id)
    return session


def _refuse_seat_changes(
    known: Session, programme: Programme, wanted: cmd.ScheduleSession, index: int
) -> None:
    capacity = wanted.capacity
    if capacity is None and wanted.room_id is not None and wanted.room_id in programme.rooms:
        capacity = programme.rooms[wanted.room_id].capacity
    for name, old, new in (
        ("starts_at", known.starts_at, wanted.starts_at),
        ("ends_at", known.ends_at, wanted.ends_at),
        ("room_id", known.room_id, wanted.room_id),
        ("capacity", known.capacity, capacity),
        ("mode", known.mode, wanted.mode),
        ("waitlist", known.waitlist, wanted.waitlist),
    ):
        if old != new:
            raise InvalidCommand(
                f"session {known.session_id}: {name} cannot change through PUT programme yet; "
                "use PATCH on the session",
                f"sessions[{index}].{name}",
            )


def _room_event(kind: type[RoomAdded] | type[RoomChanged], room: cmd.AddRoom) -> Event:
    if room.capacity < 1:
        raise InvalidCommand("a room holds at least one seat", "capacity")
    return kind(room_id=room.id, name=room.name, capacity=room.capacity, location=room.location)


def _scheduled(session: Session) -> SessionScheduled:
    return SessionScheduled(
        session_id=session.session_id,
        title=session.title,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        room_id=session.room_id,
        capacity=session.capacity,
        mode=session.mode,
        waitlist=session.waitlist,
        hosts=session.hosts,
        description=session.description,
    )
