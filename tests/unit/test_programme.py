from __future__ import annotations

import datetime as dt
from functools import reduce

import pytest

from registry.domain import commands as cmd
from registry.domain.errors import AlreadyExists, InvalidCommand, RoomConflict, UnknownId
from registry.domain.event import Event
from registry.domain.events import (
    RegistrationClosed,
    RegistrationOpened,
    RoomChanged,
    SessionCancelled,
    SessionDescribed,
    SessionScheduled,
)
from registry.domain.programme import (
    Programme,
    decide_add_room,
    decide_create,
    decide_registration,
    decide_replace,
    decide_schedule,
    evolve,
)

AMS = dt.timezone(dt.timedelta(hours=1))  # Amsterdam in January


def fold(programme: Programme | None, events: list[Event]) -> Programme:
    result = reduce(evolve, events, programme)
    assert result is not None
    return result


def almelo() -> Programme:
    programme = fold(
        None,
        decide_create(
            cmd.CreateEvent(
                id="almelo",
                title="Netwerkdag",
                timezone="Europe/Amsterdam",
                date=dt.date(2024, 1, 11),
            )
        ),
    )
    for room in (
        cmd.AddRoom(id="raadzaal", name="Raadzaal", capacity=80, location="1st floor"),
        cmd.AddRoom(id="r19-2", name="19.2", capacity=24),
    ):
        programme = fold(programme, decide_add_room(programme, room))
    return programme


def session(id: str = "s1", start: int = 14, end: int = 15, **kw: object) -> cmd.ScheduleSession:
    values: dict[str, object] = {
        "id": id,
        "title": "Theme group",
        "starts_at": dt.datetime(2024, 1, 11, start, tzinfo=AMS),
        "ends_at": dt.datetime(2024, 1, 11, end, tzinfo=AMS),
        "room_id": "raadzaal",
    }
    values.update(kw)
    return cmd.ScheduleSession(**values)  # type: ignore[arg-type]


def test_a_session_takes_its_rooms_capacity_unless_given_a_smaller_one() -> None:
    p = almelo()
    [event] = decide_schedule(p, session())
    assert isinstance(event, SessionScheduled)
    assert event.capacity == 80
    [smaller] = decide_schedule(p, session(capacity=30))
    assert isinstance(smaller, SessionScheduled)
    assert smaller.capacity == 30
    with pytest.raises(InvalidCommand) as raised:
        decide_schedule(p, session(capacity=81))
    assert raised.value.field == "capacity"


def test_times_need_an_offset_and_must_lie_within_the_events_days() -> None:
    p = almelo()
    with pytest.raises(InvalidCommand, match="UTC offset"):
        decide_schedule(p, session(starts_at=dt.datetime(2024, 1, 11, 14)))
    with pytest.raises(InvalidCommand, match="after starts_at"):
        decide_schedule(p, session(start=15, end=14))
    with pytest.raises(InvalidCommand, match="within the event's days"):
        decide_schedule(
            p,
            session(
                starts_at=dt.datetime(2024, 1, 12, 9, tzinfo=AMS),
                ends_at=dt.datetime(2024, 1, 12, 10, tzinfo=AMS),
            ),
        )
    # 23:30 UTC on the 10th is 00:30 on the 11th in Amsterdam: inside the day.
    early = session(
        starts_at=dt.datetime(2024, 1, 10, 23, 30, tzinfo=dt.UTC),
        ends_at=dt.datetime(2024, 1, 11, 0, 30, tzinfo=dt.UTC),
    )
    assert decide_schedule(p, early)
    # Ending at midnight still ends on the event's day.
    late = session(start=23, end=23, ends_at=dt.datetime(2024, 1, 12, 0, tzinfo=AMS))
    assert decide_schedule(p, late)


def test_rooms_and_capacity_rules() -> None:
    p = almelo()
    with pytest.raises(UnknownId) as unknown:
        decide_schedule(p, session(room_id="attic"))
    assert unknown.value.field == "room_id"
    with pytest.raises(InvalidCommand, match="only online sessions may be unlimited"):
        decide_schedule(p, session(room_id=None))
    [online] = decide_schedule(p, session(room_id=None, mode="online"))
    assert isinstance(online, SessionScheduled)
    assert online.capacity is None
    [walk] = decide_schedule(p, session(id="walk", room_id=None, capacity=15))
    assert isinstance(walk, SessionScheduled)
    assert walk.capacity == 15


def test_two_sessions_may_not_share_a_room_at_overlapping_times() -> None:
    p = fold(almelo(), decide_schedule(almelo(), session("s1", 14, 15)))
    with pytest.raises(RoomConflict) as raised:
        decide_schedule(p, session("s2", 14, 16))
    assert raised.value.conflicting_session_id == "s1"
    assert decide_schedule(p, session("s3", 15, 16))  # half-open: 15:00 is free again
    assert decide_schedule(p, session("s4", 14, 15, room_id="r19-2"))
    with pytest.raises(AlreadyExists):
        decide_schedule(p, session("s1", 16, 17))


def test_replacing_the_programme_adds_new_ids_and_updates_descriptions_only() -> None:
    p = fold(almelo(), decide_schedule(almelo(), session("s1", 14, 15)))
    events = decide_replace(
        p,
        cmd.ReplaceProgramme(
            rooms=[
                cmd.AddRoom(id="raadzaal", name="Raadzaal", capacity=80, location="1st floor"),
                cmd.AddRoom(id="atelier", name="19 Atelier", capacity=30),
            ],
            sessions=[session("s1", 14, 15, title="Renamed"), session("s2", 15, 16)],
        ),
    )
    assert [type(e).__name__ for e in events] == [
        "RoomAdded",
        "SessionDescribed",
        "SessionScheduled",
    ]
    assert isinstance(events[1], SessionDescribed)
    after = fold(p, events)
    assert after.sessions["s1"].title == "Renamed"
    assert set(after.rooms) == {"raadzaal", "r19-2", "atelier"}
    assert decide_replace(after, cmd.ReplaceProgramme(sessions=[session("s2", 15, 16)])) == []
    with pytest.raises(InvalidCommand) as raised:
        decide_replace(after, cmd.ReplaceProgramme(sessions=[session("s1", 14, 16)]))
    assert raised.value.field == "sessions[0].ends_at"
    with pytest.raises(InvalidCommand, match="fewer seats"):
        decide_replace(
            after, cmd.ReplaceProgramme(rooms=[cmd.AddRoom(id="raadzaal", name="R", capacity=10)])
        )
    [changed] = decide_replace(
        after, cmd.ReplaceProgramme(rooms=[cmd.AddRoom(id="raadzaal", name="R", capacity=90)])
    )
    assert isinstance(changed, RoomChanged)


def test_registration_opens_and_closes_once() -> None:
    p = almelo()
    assert p.registration == "closed"
    assert decide_registration(p, open_it=False) == []
    [opened] = decide_registration(p, open_it=True)
    assert isinstance(opened, RegistrationOpened)
    p = fold(p, [opened])
    assert decide_registration(p, open_it=True) == []
    assert isinstance(decide_registration(p, open_it=False)[0], RegistrationClosed)


def test_event_creation_checks_its_time_zone_and_days() -> None:
    with pytest.raises(InvalidCommand) as raised:
        decide_create(
            cmd.CreateEvent(id="x", title="X", timezone="Mars/Olympus", date=dt.date(2024, 1, 1))
        )
    assert raised.value.field == "timezone"
    with pytest.raises(InvalidCommand):
        decide_create(
            cmd.CreateEvent(
                id="x",
                title="X",
                timezone="UTC",
                date=dt.date(2024, 1, 2),
                end_date=dt.date(2024, 1, 1),
            )
        )


def test_a_replaced_programme_checks_rooms_against_its_own_new_sessions_too() -> None:
    """decide_replace keeps the sessions by room as it goes (not a programme per fact): a new
    session conflicts with one scheduled earlier in the same command, with one already there,
    never with itself, a session elsewhere, or one that is no longer open."""
    p = fold(almelo(), decide_schedule(almelo(), session("s1", 14, 15)))
    p = fold(p, [SessionCancelled(session_id="s1", reason="ill")])
    p = fold(p, decide_schedule(p, session("s2", 10, 11)))
    new_room = cmd.AddRoom(id="atelier", name="Atelier", capacity=30)
    with pytest.raises(RoomConflict) as raised:
        decide_replace(
            p,
            cmd.ReplaceProgramme(
                rooms=[new_room],
                sessions=[
                    session("a1", 14, 15, room_id="atelier"),
                    session("a2", 12, 13, room_id="atelier"),
                    session("a3", 14, 16, room_id="atelier"),
                ],
            ),
        )
    assert (raised.value.session_id, raised.value.conflicting_session_id) == ("a3", "a1")
    with pytest.raises(RoomConflict) as existing:
        decide_replace(p, cmd.ReplaceProgramme(sessions=[session("s3", 10, 12)]))
    assert existing.value.conflicting_session_id == "s2"
    events = decide_replace(
        p,
        cmd.ReplaceProgramme(
            rooms=[new_room],
            sessions=[
                session("s2", 10, 11, title="Renamed"),
                session("s4", 14, 15),  # s1's room and time, but s1 was cancelled
                session("s5", 10, 11, room_id="atelier"),
                session("s6", 11, 12),  # right after s2, in its room
            ],
        ),
    )
    assert [type(e).__name__ for e in events] == [
        "RoomAdded",
        "SessionDescribed",
        "SessionScheduled",
        "SessionScheduled",
        "SessionScheduled",
    ]
    assert fold(p, events).sessions["s5"].room_id == "atelier"
