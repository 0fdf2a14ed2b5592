"""`programme_fold.fold` is `reduce(evolve, ...)`, in linear time, and never changes its input.

Histories are generated (hypothesis): rooms added and changed, sessions scheduled, described,
resized, rescheduled, cancelled and merged, registration opened, closed and scheduled to close,
the event cancelled or gone online, in any order the facts' references allow; folded whole, from
a cached fold part way, and after the start of a run of entries."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain import programme_fold
from registry.domain.event import Event
from registry.domain.events import (
    EventCancelled,
    EventCreated,
    EventWentOnline,
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
from registry.domain.programme import Programme, evolve
from registry.domain.programme_fold import fold

AT = dt.datetime(2024, 1, 11, 9, tzinfo=dt.UTC)
CREATED = EventCreated(
    event_id="day", title="Netwerkdag", timezone="Europe/Amsterdam", date=AT.date()
)
KINDS = [
    "room",
    "room-changed",
    "session",
    "session",
    "described",
    "resized",
    "rescheduled",
    "cancelled",
    "merged",
    "opened",
    "closed",
    "closing",
    "event-cancelled",
    "online",
]


def hour(n: int) -> dt.datetime:
    return AT + dt.timedelta(hours=n)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """EventCreated, then facts that name only rooms and sessions already there."""
    events: list[Event] = [CREATED]
    rooms: list[str] = []
    sessions: list[str] = []
    for kind in draw(st.lists(st.sampled_from(KINDS), max_size=60)):
        n = draw(st.integers(0, 5))
        if kind == "room" or (kind == "room-changed" and rooms):
            room = f"r{len(rooms)}" if kind == "room" else draw(st.sampled_from(rooms))
            kind_of = RoomAdded if kind == "room" else RoomChanged
            events.append(kind_of(room_id=room, name=f"room {n}", capacity=10 + n))
            rooms.append(room)
        elif kind == "session":
            sid = f"s{len(sessions)}"
            room = draw(st.sampled_from(rooms)) if rooms and n else None
            events.append(
                SessionScheduled(
                    session_id=sid,
                    title=f"talk {n}",
                    starts_at=hour(n),
                    ends_at=hour(n + 1),
                    room_id=room,
                    capacity=n or None,
                    mode="in_person" if room else "online",
                    waitlist=n % 2 == 0,
                )
            )
            sessions.append(sid)
        elif kind in ("opened", "closed", "closing", "event-cancelled", "online"):
            events.append(
                {
                    "opened": RegistrationOpened(),
                    "closed": RegistrationClosed(),
                    "closing": RegistrationClosingScheduled(closes_at=hour(n) if n else None),
                    "event-cancelled": EventCancelled(reason="storm"),
                    "online": EventWentOnline(reason="storm", capacity=n or None),
                }[kind]
            )
        elif sessions:
            sid = draw(st.sampled_from(sessions))
            events.append(
                {
                    "described": SessionDescribed(session_id=sid, title=f"new {n}", hosts=("an",)),
                    "resized": SessionCapacityChanged(
                        session_id=sid, capacity=n, room_id=None, mode="online"
                    ),
                    "rescheduled": SessionRescheduled(
                        session_id=sid, starts_at=hour(n), ends_at=hour(n + 2)
                    ),
                    "cancelled": SessionCancelled(session_id=sid, reason="ill"),
                    "merged": SessionsMerged(session_id=sid, into=sessions[0]),
                }.get(kind, RegistrationOpened())
            )
    return events


def reduced(programme: Programme | None, events: list[Event]) -> Programme | None:
    return reduce(evolve, events, programme)


@given(histories(), st.data())
def test_a_fold_is_evolve_fact_by_fact(events: list[Event], data: st.DataObject) -> None:
    assert fold(None, events) == reduced(None, events)
    # From a fold cached part way (loading.py reads on from there): the same again, and the
    # cached programme, shared by every caller, is left as it was.
    cut = data.draw(st.integers(0, len(events)))
    cached = reduced(None, events[:cut])
    before = copy.deepcopy(cached)
    assert fold(cached, events[cut:]) == reduced(None, events)
    assert cached == before
    if cached is not None:
        assert cached.sessions == before.sessions and cached.rooms == before.rooms


@pytest.mark.parametrize("fold_with", [fold, reduced])
def test_a_fact_before_the_event_exists_is_refused_as_by_evolve(
    fold_with: Callable[[Programme | None, list[Event]], Programme | None],
) -> None:
    with pytest.raises(ValueError, match="before EventCreated"):
        fold_with(None, [RoomAdded(room_id="r", name="r", capacity=1)])


def test_entries_are_not_folded_one_programme_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of `fold`: a run of facts about rooms and sessions goes into one copy of the
    dicts, not through `evolve` (a copy of every session per fact: quadratic). Only the other
    facts reach `evolve` (counted, not timed)."""
    seen: list[str] = []

    def counted(programme: Programme | None, event: Event) -> Programme:
        seen.append(event.type_name)
        return evolve(programme, event)

    monkeypatch.setattr(programme_fold, "evolve", counted)
    scheduled = [
        SessionScheduled(
            session_id=f"s{i}",
            title="t",
            starts_at=hour(0),
            ends_at=hour(1),
            room_id=None,
            capacity=5,
            mode="online",
            waitlist=True,
        )
        for i in range(2_000)
    ]
    described = [SessionDescribed(session_id=f"s{i}", title="new") for i in range(500)]
    events: list[Event] = [CREATED, RoomAdded(room_id="r", name="r", capacity=5)]
    events += [*scheduled, RegistrationOpened(), *described]
    folded = programme_fold.fold(None, events)
    assert seen == ["EventCreated", "RegistrationOpened"]
    assert folded == reduced(None, events)
