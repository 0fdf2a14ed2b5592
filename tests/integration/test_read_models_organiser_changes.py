"""The read models follow organisers' changes (issue 6): capacity, room, reschedule, cancel,
merge, the whole event cancelled or turned online.

Each scenario is a log the domain could write (tests/support/changes_log.py), appended fact by
fact. It is written once per batch size, each time for an event of its own, and the live
projections are fed that event's facts in batches of that size: one fact per batch (every move
finds the seat or entry it moves stored), a few, and all of them in one batch (every move finds
it earlier in the batch). Each time the live read models == a rebuild from the log == the fold
of the domain over the log; then the scenario's own figures are checked by hand, so a mistake
shared by the fold and the projections fails too.
"""

from __future__ import annotations

import asyncpg
import pytest

from registry.domain.events import (
    ALL_EVENTS,
    EventCancelled,
    EventWentOnline,
    RegistrationClosingScheduled,
    SeatsOverlapped,
    SessionCancelled,
    SessionCapacityChanged,
    SessionRescheduled,
    SessionsMerged,
)
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.event_view import event_view
from tests.support.changes_log import (
    BATCH_SIZES,
    ORG,
    Log,
    at,
    attendees,
    check,
    event_of,
    queue,
    ranges,
    scheduled,
    seated_at,
    session,
    utc,
)
from tests.support.read_models import whole_log


@pytest.fixture
def store(fresh_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))


# -- capacity and rooms ----------------------------------------------------------------------


def capacity_lowered(log: Log) -> None:
    for who in ("p0", "p1", "p2"):
        log.command(log.seat(who, "a"))
    log.command(log.wait("p3", "a"))
    lowered = SessionCapacityChanged(session_id="a", capacity=1, room_id="hall", mode="in_person")
    log.command(log.on_event(lowered))
    # Still over capacity after a release: nobody is promoted.
    log.command(log.release("p1", "a", "cancelled"))


async def test_capacity_lowered_below_the_seats_taken(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, capacity_lowered):
        a = session(answer, "a")
        assert (a["capacity"], a["seated"], a["waitlisted"]) == (1, 2, 1)
        assert (a["free"], a["over_capacity"], a["state"]) == (0, 1, "open")
        assert attendees(answer, "a") == ["p0", "p2"]


def capacity_raised(log: Log) -> None:
    log.command(log.seat("p4", "b"))
    log.command(log.seat("p6", "b"))
    log.command(log.seat("p7", "b"))
    for who in ("p0", "p1", "p2"):
        log.command(log.seat(who, "a"))
    log.command(log.wait("p3", "a"))
    log.command(log.wait("p4", "a", fallbacks=["b"]))
    log.command(log.wait("p5", "b"))
    # Into a bigger room with 5 seats: both waiting in a are promoted; p4's promotion releases
    # their seat in b, which promotes b's queue (the cascade, in one append).
    raised = SessionCapacityChanged(session_id="a", capacity=5, room_id="aula", mode="in_person")
    log.command(
        log.on_event(raised),
        log.promote("p3", "a"),
        log.promote("p4", "a"),
        log.release("p4", "b", "promoted"),
        log.promote("p5", "b"),
    )


async def test_capacity_raised_promotes_the_queue(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, capacity_raised):
        a, b = session(answer, "a"), session(answer, "b")
        assert (a["capacity"], a["seated"], a["waitlisted"], a["free"]) == (5, 5, 0, 0)
        assert (a["room_id"], b["seated"], b["waitlisted"]) == ("aula", 3, 0)
        assert attendees(answer, "b") == ["p6", "p7", "p5"]
        assert ranges(answer)["aula"] == ["a", "m"] and ranges(answer)["hall"] == ["c"]


def room_changed(log: Log) -> None:
    log.command(log.seat("p0", "b"))
    log.command(log.seat("p1", "b"))
    moved = SessionCapacityChanged(session_id="b", capacity=2, room_id="lab", mode="hybrid")
    log.command(log.on_event(moved))
    log.command(log.on_event(scheduled("e", "attic", 10, 11, 3)))  # the attic is free again


async def test_a_room_change_moves_the_range(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, room_changed):
        b = session(answer, "b")
        assert (b["room_id"], b["capacity"], b["seated"], b["free"]) == ("lab", 2, 2, 0)
        assert ranges(answer) == {
            "attic": ["e"],
            "aula": ["m"],
            "hall": ["a", "c"],
            "lab": ["b", "d"],
        }


# -- times -----------------------------------------------------------------------------------


def rescheduled(log: Log) -> None:
    log.command(log.seat("p0", "a"))
    log.command(log.seat("p0", "d"))
    log.command(log.seat("p1", "d"))
    log.command(log.seat("p2", "b"))
    log.command(log.wait("p2", "d"))  # b (10-11) does not overlap d (11-12): no fallback yet
    moved = SessionRescheduled(session_id="d", starts_at=at(10.5), ends_at=at(11.5))
    told = SeatsOverlapped(participant_id="p0", session_ids=("a", "d"))
    log.command(log.on_event(moved), log.of("p0", told))


async def test_a_reschedule_makes_a_conflict_from_the_current_times(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, rescheduled):
        assert [s["session_id"] for s in answer["occupancy"]] == ["a", "b", "d", "c", "o", "m"]
        d = session(answer, "d")
        assert (d["starts_at"], d["ends_at"]) == (utc(at(10.5)), utc(at(11.5)))
        assert answer["conflicts"] == [
            {"participant_id": "p0", "name": "Name p0", "erased": False, "session_ids": ["a", "d"]}
        ]
        assert queue(answer, "d") == [("p2", ["b"])]  # b overlaps d now: a fallback


# -- cancelled -------------------------------------------------------------------------------


def session_cancelled(log: Log) -> None:
    for who in ("p0", "p1", "p4"):
        log.command(log.seat(who, "a"))
    log.command(log.seat("p2", "b"))
    log.command(log.wait("p2", "a", fallbacks=["b"]))
    log.command(log.wait("p3", "a"))
    # The queue first (nobody is promoted into it), then the seats in the order given.
    log.command(
        log.on_event(SessionCancelled(session_id="a", reason="speaker ill")),
        log.leave("p2", "a", "session-cancelled"),
        log.leave("p3", "a", "session-cancelled"),
        log.release("p0", "a", "session-cancelled"),
        log.release("p1", "a", "session-cancelled"),
        log.release("p4", "a", "session-cancelled"),
    )
    log.command(log.on_event(scheduled("f", "hall", 10, 11, 4)))  # the hall is free at 10
    log.command(log.seat("p0", "f"))


async def test_a_cancelled_session_releases_seats_queue_and_room(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, session_cancelled):
        a = session(answer, "a")
        assert (a["state"], a["seated"], a["waitlisted"], a["room_id"]) == (
            "cancelled",
            0,
            0,
            "hall",
        )
        assert attendees(answer, "a") == [] and queue(answer, "a") == []
        assert attendees(answer, "b") == ["p2"] and attendees(answer, "f") == ["p0"]
        assert ranges(answer)["hall"] == ["f", "c"]


# -- merged ----------------------------------------------------------------------------------


def merged_into_free_seats(log: Log) -> None:
    log.command(log.seat("p3", "b"))  # the earliest seat of all: first among m's attendees
    log.command(log.seat("p0", "m"))
    log.command(log.seat("p1", "b"))
    log.command(log.seat("p1", "m"))  # seated in the target already
    log.command(log.seat("p2", "b"))  # b is full
    for who in ("p4", "p6", "p7"):
        log.command(log.seat(who, "c"))  # c is full
    log.command(log.wait("p3", "c", replaces="b", fallbacks=["b"]))  # a switch from b
    log.command(log.wait("p4", "b", replaces="c", fallbacks=["c"]))  # a switch from c
    log.command(log.wait("p5", "b"))
    # m has one free seat: b's seats move in seat order (p3 takes it, p1 keeps theirs, p2
    # overflows into m's queue), then b's queue follows in its order.
    log.command(
        log.on_event(SessionsMerged(session_id="b", into="m")),
        log.move("p3", "b", "m"),
        log.release("p1", "b", "merged"),
        log.move_to_queue("p2", "b", "m"),
        log.requeue("p4", "b", "m"),
        log.requeue("p5", "b", "m"),
    )


async def test_a_merge_moves_seats_keeping_when_and_in_which_order_they_were_given(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    live = await check(fresh_pool, store, merged_into_free_seats)
    events = await whole_log(store)
    for answer, size in zip(live, BATCH_SIZES, strict=True):
        b, m = session(answer, "b"), session(answer, "m")
        assert (b["state"], b["seated"], b["waitlisted"]) == ("merged", 0, 0)
        assert (m["seated"], m["waitlisted"], m["free"]) == (3, 3, 0)
        assert attendees(answer, "m") == ["p3", "p0", "p1"]
        first = seated_at(events, event_of(merged_into_free_seats, size), "p3", "b")
        assert answer["attendees"]["m"][0]["seated_at"] == first
        # p4's entry keeps replacing c; p3's entry in c now replaces their seat in m.
        assert queue(answer, "m") == [("p2", []), ("p4", ["c"]), ("p5", [])]
        assert queue(answer, "c") == [("p3", ["m"])]
        assert "b" not in ranges(answer)["attic"]
    view = await event_view(store, ORG, event_of(merged_into_free_seats))
    states = {s["session_id"]: (s["state"], s["merged_into"]) for s in view["sessions"]}
    assert states["b"] == ("merged", "m") and states["m"] == ("open", None)


def merged_into_a_full_session(log: Log) -> None:
    for who in ("p0", "p1", "p2"):
        log.command(log.seat(who, "m"))
    log.command(log.wait("p3", "m"))  # waits in the target already
    for who in ("p4", "p3", "p5"):
        log.command(log.seat(who, "b"))
    log.command(log.wait("p6", "b"))
    log.command(log.wait("p0", "b"))  # seated in the target
    log.command(
        log.on_event(SessionsMerged(session_id="b", into="m")),
        log.move_to_queue("p4", "b", "m"),
        log.release("p3", "b", "merged"),  # their place in m's queue is earlier
        log.move_to_queue("p5", "b", "m"),
        log.requeue("p6", "b", "m"),
        log.leave("p0", "b", "merged"),
    )
    # Two seats come free in m: the queue moves up, moved entries included.
    log.command(log.release("p1", "m", "cancelled"), log.promote("p3", "m"))
    log.command(log.release("p2", "m", "cancelled"), log.promote("p4", "m"))


async def test_a_merge_into_a_full_session_queues_after_those_waiting(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, merged_into_a_full_session):
        m = session(answer, "m")
        assert (m["seated"], m["waitlisted"], session(answer, "b")["state"]) == (3, 2, "merged")
        assert attendees(answer, "m") == ["p0", "p3", "p4"]
        assert queue(answer, "m") == [("p5", []), ("p6", [])]
        assert [w["waitlist_position"] for w in answer["waitlists"]["m"]] == [1, 2]


# -- the whole event -------------------------------------------------------------------------


def event_cancelled(log: Log) -> None:
    log.command(log.on_event(RegistrationClosingScheduled(closes_at=at(9))))
    log.command(log.on_event(SessionsMerged(session_id="c", into="a")))  # c had nobody
    log.command(log.seat("p0", "d"))
    log.command(log.seat("p1", "d"))
    log.command(log.wait("p2", "d"))
    log.command(log.seat("p3", "b"))
    log.command(log.seat("p4", "o"))
    # Every open session, earliest first: its queue, then its seats.
    log.command(
        log.on_event(EventCancelled(reason="storm")),
        log.release("p3", "b", "event-cancelled"),
        log.leave("p2", "d", "event-cancelled"),
        log.release("p0", "d", "event-cancelled"),
        log.release("p1", "d", "event-cancelled"),
        log.release("p4", "o", "event-cancelled"),
    )


async def test_a_cancelled_event_cancels_every_open_session(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, event_cancelled):
        states = {s["session_id"]: s["state"] for s in answer["occupancy"]}
        assert states == {
            "a": "cancelled", "b": "cancelled", "c": "merged",
            "d": "cancelled", "o": "cancelled", "m": "cancelled",
        }  # fmt: skip
        assert all(s["seated"] == s["waitlisted"] == 0 for s in answer["occupancy"])
        assert all(not r for r in ranges(answer).values())
    view = await event_view(store, ORG, event_of(event_cancelled))
    assert (view["state"], view["registration"]) == ("cancelled", "closed")
    assert {s["session_id"]: s["state"] for s in view["sessions"]} == states


def went_online(log: Log) -> None:
    log.command(log.on_event(SessionCancelled(session_id="c", reason="no host")))
    for who in ("p4", "p5", "p6"):
        log.command(log.seat(who, "b"))
    for who in ("p0", "p1", "p2"):
        log.command(log.seat(who, "a"))
    log.command(log.wait("p3", "a"))
    log.command(log.wait("p4", "a", fallbacks=["b"]))
    log.command(log.wait("p7", "b"))
    # Unlimited now: a's queue is promoted, p4's promotion releases b, which promotes b's.
    log.command(
        log.on_event(EventWentOnline(reason="storm", capacity=None)),
        log.promote("p3", "a"),
        log.promote("p4", "a"),
        log.release("p4", "b", "promoted"),
        log.promote("p7", "b"),
    )


async def test_an_event_gone_online_has_no_rooms_and_no_limits(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, went_online):
        a, c = session(answer, "a"), session(answer, "c")
        assert (a["capacity"], a["free"], a["over_capacity"], a["room_id"]) == (None, None, 0, None)
        assert (a["seated"], a["waitlisted"], session(answer, "b")["seated"]) == (5, 0, 3)
        assert (c["state"], c["room_id"], c["capacity"]) == ("cancelled", "hall", 3)
        assert all(not r for r in ranges(answer).values())
    view = await event_view(store, ORG, event_of(went_online))
    assert (view["state"], view["registration"]) == ("online", "open")
    modes = {s["session_id"]: (s["mode"], s["room_id"], s["capacity"]) for s in view["sessions"]}
    assert modes["a"] == ("online", None, None) and modes["c"] == ("in_person", "hall", 3)


def went_online_with_a_capacity(log: Log) -> None:
    for who in ("p0", "p1", "p2"):
        log.command(log.seat(who, "a"))
    log.command(log.wait("p3", "a"))
    log.command(log.seat("p4", "d"))
    log.command(log.on_event(EventWentOnline(reason="storm", capacity=2)))


async def test_an_event_gone_online_with_a_capacity_can_be_over_it(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    for answer in await check(fresh_pool, store, went_online_with_a_capacity):
        a, d = session(answer, "a"), session(answer, "d")
        assert (a["capacity"], a["free"], a["over_capacity"], a["waitlisted"]) == (2, 0, 1, 1)
        assert (d["capacity"], d["free"], d["room_id"]) == (2, 1, None)
