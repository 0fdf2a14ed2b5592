"""The capacity gate contract: MemoryGate (Seating, the reference) and RedisGate (Lua) alike.

Random command sequences against the spec are in test_capacity_gate_differential.py; load,
concurrency, expiry with a real clock and NOSCRIPT in tests/integration/test_capacity_gate_redis.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from registry.capacity import (
    CapacityGate,
    CommandIdConflict,
    Decision,
    GateNotReady,
    MemoryGate,
    ParticipantBusy,
    RedisGate,
)
from registry.domain.errors import (
    AlreadySignedUp,
    EventCancelled,
    InvalidCommand,
    NotSignedUp,
    RegistrationClosed,
    SessionCancelled,
    SessionFull,
    TimeConflict,
    UnknownId,
)
from registry.domain.seating import (
    Dequeued,
    Promoted,
    Queued,
    Released,
    Seated,
    Seating,
    SessionSeats,
    Waiting,
)
from tests.contract.conftest import PART_ENTRIES

EVENT = "org-a:day-1"


def at(hour: float) -> datetime:
    return datetime(2024, 1, 11, int(hour), int(hour % 1 * 60), tzinfo=UTC)


def programme() -> Seating:
    """a and b: 10-11 (2 and 1 seats); c: 10:30-11:30; d: 11-12 (adjacent to a and b);
    e: no waitlist; u: unlimited."""
    return Seating(
        {
            "a": SessionSeats("a", at(10), at(11), 2),
            "b": SessionSeats("b", at(10), at(11), 1),
            "c": SessionSeats("c", at(10.5), at(11.5), 2),
            "d": SessionSeats("d", at(11), at(12), 1),
            "e": SessionSeats("e", at(14), at(15), 1, waitlist=False),
            "u": SessionSeats("u", at(9), at(10), None),
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@dataclass
class Harness:
    gate: CapacityGate
    clock: Clock
    lose: Callable[[], Awaitable[None]]  # everything of EVENT gone, as after a FLUSHALL


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """Redis's URL and this test's key prefix, or None for the memory gate. A plain function:
    it asks for the (async, session) Redis fixtures only when RedisGate is tested."""
    if request.param == "memory":
        return None
    prefix = f"{request.getfixturevalue('redis_prefix')}-{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue("redis_url"), prefix


@pytest.fixture
async def h(backend: tuple[str, str] | None) -> AsyncIterator[Harness]:
    clock = Clock()
    if backend is None:
        memory = MemoryGate(clock=clock, hold_ttl_ms=30_000)

        async def forget() -> None:
            memory.forget(EVENT)

        await memory.load(EVENT, programme(), "open", epoch=7)
        yield Harness(memory, clock, forget)
        return
    url, prefix = backend
    client = aioredis.Redis.from_url(url)
    gate = RedisGate(
        client, prefix, clock=clock, hold_ttl_ms=30_000, load_part_entries=PART_ENTRIES
    )

    async def delete_keys() -> None:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)

    await gate.load(EVENT, programme(), "open", epoch=7)
    try:
        yield Harness(gate, clock, delete_keys)
    finally:
        await delete_keys()
        await client.aclose()


class Commands:
    """Decisions whose append committed: distinct command ids, each confirmed at once (as the
    write path does). Tests that keep a hold open call the gate themselves."""

    def __init__(self, gate: CapacityGate) -> None:
        self.gate, self.n = gate, 0

    def next_id(self) -> str:
        self.n += 1
        return f"cmd-{self.n}"

    async def _confirmed(self, command_id: str, decision: Decision) -> Decision:
        await self.gate.confirm(EVENT, command_id)
        return decision

    async def sign_up(self, p: str, s: str, replaces: str | None = None) -> Decision:
        c = self.next_id()
        return await self._confirmed(c, await self.gate.sign_up(EVENT, c, p, s, replaces))

    async def leave(self, p: str, s: str) -> Decision:
        c = self.next_id()
        return await self._confirmed(c, await self.gate.leave(EVENT, c, p, s))


async def test_a_free_seat_is_given_at_once(h: Harness) -> None:
    decision = await h.gate.sign_up(EVENT, "c1", "p0", "a")
    assert decision == [Seated("p0", "a", 1)]
    assert (decision.epoch, decision.waitlist_position, decision.replayed) == (7, None, False)
    assert (await h.gate.seating(EVENT)).sessions["a"].seated == {"p0": 1}


async def test_a_full_session_queues_by_ticket_with_positions(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    for n, p in enumerate(["p1", "p2", "p3"], start=1):
        decision = await c.sign_up(p, "b")
        assert decision == [Queued(p, "b", n + 1, ())]
        assert decision.waitlist_position == n
    assert await c.leave("p2", "b") == [Dequeued("p2", "b", "cancelled")]
    assert [await h.gate.waitlist_position(EVENT, "b", p) for p in ["p1", "p2", "p3"]] == [
        1,
        None,
        2,
    ]
    assert await h.gate.waitlist_position(EVENT, "zz", "p1") is None


async def test_an_overlapping_free_seat_is_a_time_conflict(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "a")
    with pytest.raises(TimeConflict) as refused:
        await c.sign_up("p0", "c")
    assert refused.value.conflicting_session_id == "a"
    assert await c.sign_up("p0", "d") == [Seated("p0", "d", 1)]  # half-open: 11:00 is free


async def test_replaces_switches_in_one_step_and_promotes_the_old_queue(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p1", "b")
    assert await c.sign_up("p0", "a", replaces="b") == [
        Seated("p0", "a", 1, "b"),
        Released("p0", "b", "switched"),
        Promoted("p1", "b", 2),
    ]


async def test_the_fallback_cascade_is_one_leave(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")  # b (one seat) is full
    await c.sign_up("p1", "a")  # p1 holds a, which overlaps b
    assert await c.sign_up("p1", "b") == [Queued("p1", "b", 2, ("a",))]
    await c.sign_up("p2", "a")
    assert await c.sign_up("p3", "a") == [Queued("p3", "a", 3, ())]
    assert await c.leave("p0", "b") == [
        Released("p0", "b", "cancelled"),
        Promoted("p1", "b", 2),
        Released("p1", "a", "promoted"),
        Promoted("p3", "a", 3),
    ]
    seating = await h.gate.seating(EVENT)
    assert list(seating.sessions["a"].seated) == ["p2", "p3"]
    assert seating.sessions["b"].seated == {"p1": 2}


async def test_full_without_waitlist_and_unlimited(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "e")
    with pytest.raises(SessionFull):
        await c.sign_up("p1", "e")
    for n in range(30):
        assert await c.sign_up(f"x{n}", "u") == [Seated(f"x{n}", "u", n + 1)]


async def test_refusals_come_in_the_order_of_the_api(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await h.gate.set_registration(EVENT, "closed")
    with pytest.raises(UnknownId):  # 422s before registration-closed
        await c.sign_up("p0", "nope")
    with pytest.raises(InvalidCommand):
        await c.sign_up("p0", "a", replaces="d")
    with pytest.raises(RegistrationClosed):
        await c.sign_up("p0", "b")
    assert await c.leave("p0", "b") == [Released("p0", "b", "cancelled")]  # leaving stays open
    await h.gate.set_registration(EVENT, "cancelled")
    with pytest.raises(EventCancelled):
        await c.sign_up("p0", "a")
    await h.gate.set_registration(EVENT, "open")
    await c.sign_up("p0", "a")
    with pytest.raises(AlreadySignedUp):
        await c.sign_up("p0", "a")
    with pytest.raises(NotSignedUp):
        await c.leave("p9", "a")
    with pytest.raises(UnknownId):
        await c.leave("p0", "nope")


async def test_a_cancelled_or_merged_session_refuses_before_anything_else(h: Harness) -> None:
    seating = programme()
    seating.sessions["b"].state, seating.sessions["b"].merged_into = "merged", "a"
    seating.sessions["b"].seated = {"p0": 1}
    seating.sessions["b"].next_ticket = 2
    await h.gate.load(EVENT, seating, "open")
    with pytest.raises(SessionCancelled) as refused:
        await h.gate.sign_up(EVENT, "c1", "p0", "b")  # before already-signed-up
    assert refused.value.merged_into == "a"


async def test_a_repeated_command_id_returns_the_first_changes_and_applies_nothing(
    h: Harness,
) -> None:
    first = await h.gate.sign_up(EVENT, "same", "p0", "b")
    before = await h.gate.seating(EVENT)
    again = await h.gate.sign_up(EVENT, "same", "p0", "b")
    assert again == first == [Seated("p0", "b", 1)]
    assert again.replayed
    assert await h.gate.seating(EVENT) == before
    with pytest.raises(CommandIdConflict):
        await h.gate.sign_up(EVENT, "same", "p1", "b")
    assert await h.gate.confirm(EVENT, "same")
    assert await h.gate.sign_up(EVENT, "same", "p0", "b") == first  # kept after confirm
    h.clock.now += 3_600_000  # the kept answer is forgotten, the command decided anew
    await h.gate.sign_up(EVENT, "other", "p5", "u")
    with pytest.raises(AlreadySignedUp):
        await h.gate.sign_up(EVENT, "same", "p0", "b")


async def test_release_undoes_a_seat_exactly(h: Harness) -> None:
    before = await h.gate.seating(EVENT)
    await h.gate.sign_up(EVENT, "c1", "p0", "a")
    assert await h.gate.release(EVENT, "c1") == "undone"
    assert await h.gate.seating(EVENT) == before  # the ticket given back too
    assert await h.gate.is_ready(EVENT)
    assert await h.gate.release(EVENT, "c1") == "unknown"


async def test_release_undoes_a_queue_entry_a_switch_and_a_left_seat(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p1", "d")
    before = await h.gate.seating(EVENT)
    await h.gate.sign_up(EVENT, "queued", "p2", "b")
    await h.gate.sign_up(EVENT, "switch", "p1", "a", "d")
    assert await h.gate.release(EVENT, "switch") == "undone"
    assert await h.gate.release(EVENT, "queued") == "undone"
    assert await h.gate.seating(EVENT) == before
    await h.gate.leave(EVENT, "left", "p1", "d")
    assert await h.gate.release(EVENT, "left") == "undone"
    assert await h.gate.seating(EVENT) == before


async def test_a_cascade_stops_at_a_busy_head_until_its_decision_is_settled(h: Harness) -> None:
    """p2's queue entry is not in the log yet: promoting p2 now would append a promotion the log
    could not follow if that entry's append failed. b waits, stalled, and fills on confirm."""
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await h.gate.sign_up(EVENT, "queued", "p2", "b")
    assert await c.leave("p0", "b") == [Released("p0", "b", "cancelled")]
    stalled = await h.gate.seating(EVENT)
    assert (stalled.stalled, stalled.sessions["b"].queue()) == ({"b"}, ["p2"])
    assert await c.sign_up("p3", "b") == [Queued("p3", "b", 3, ())]  # behind p2, FIFO
    assert list(await h.gate.promote(EVENT, "early")) == []  # p2 still busy
    assert await h.gate.confirm(EVENT, "queued") == "fill"
    assert list(await h.gate.promote(EVENT, "fill")) == [Promoted("p2", "b", 2)]
    assert await h.gate.confirm(EVENT, "fill") == "confirmed"
    filled = await h.gate.seating(EVENT)
    assert (filled.stalled, filled.busy, filled.sessions["b"].queue()) == (set(), {}, ["p3"])


async def test_a_participant_with_a_decision_in_flight_is_busy(h: Harness) -> None:
    await h.gate.sign_up(EVENT, "first", "p0", "a")
    for call in (
        h.gate.sign_up(EVENT, "second", "p0", "u"),
        h.gate.leave(EVENT, "third", "p0", "a"),
        h.gate.leave_all(EVENT, "fourth", "p0"),
    ):
        with pytest.raises(ParticipantBusy):
            await call
    # Decisions of one command ("<id>#<n>", a whole form) do not wait for each other.
    assert await h.gate.sign_up(EVENT, "first#1", "p1", "a") == [Seated("p1", "a", 2)]
    assert await h.gate.sign_up(EVENT, "first#2", "p1", "u") == [Seated("p1", "u", 1)]
    with pytest.raises(ParticipantBusy):
        await h.gate.sign_up(EVENT, "other#1", "p1", "d")
    assert (await h.gate.seating(EVENT)).busy == {"p0": 1, "p1": 2}
    assert await h.gate.confirm(EVENT, "first") == "confirmed"
    assert await h.gate.release(EVENT, "first#2") == "undone"
    assert await h.gate.confirm(EVENT, "first#1") == "confirmed"
    assert (await h.gate.seating(EVENT)).busy == {}
    assert list(await h.gate.sign_up(EVENT, "second", "p0", "u")) == [Seated("p0", "u", 1)]


async def test_release_marks_dirty_when_a_later_decision_relied_on_it(h: Harness) -> None:
    c = Commands(h.gate)
    await h.gate.sign_up(EVENT, "seat", "p0", "b")
    await c.sign_up("p1", "b")  # queued because of p0's seat
    assert await h.gate.release(EVENT, "seat") == "dirty"
    assert not await h.gate.is_ready(EVENT)


async def test_a_seat_given_back_is_held_until_confirmed(h: Harness) -> None:
    """A left seat stays taken for everyone else until the leave is confirmed (Seating.withhold):
    p1 queues behind it, and the release can still be undone exactly."""
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    before = await h.gate.seating(EVENT)
    await h.gate.leave(EVENT, "left", "p0", "b")
    held = await h.gate.seating(EVENT)
    assert (held.sessions["b"].held_back, held.sessions["b"].seated, held.busy) == (
        1,
        {},
        {"p0": 1},
    )
    assert await c.sign_up("p1", "b") == [Queued("p1", "b", 2, ())]
    assert await h.gate.release(EVENT, "left") == "undone"
    now = await h.gate.seating(EVENT)
    assert now.sessions["b"].seated == before.sessions["b"].seated
    assert now.sessions["b"].queue() == ["p1"]
    assert (now.sessions["b"].held_back, now.busy) == (0, {})


async def test_a_confirmed_leave_frees_the_seat_and_promote_fills_it(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p2", "a")
    await h.gate.leave(EVENT, "left", "p0", "b")
    await c.sign_up("p1", "b")  # queued behind the held seat
    await c.sign_up("p2", "b")  # p2 waits for b, keeping a as a fallback
    assert list(await h.gate.promote(EVENT, "too-early")) == []  # nothing free yet
    assert await h.gate.confirm(EVENT, "left") == "fill"
    free = (await h.gate.seating(EVENT)).sessions["b"]
    assert (free.held_back, free.seated, free.queue()) == (0, {}, ["p1", "p2"])
    filled = await h.gate.promote(EVENT, "fill")
    assert list(filled) == [Promoted("p1", "b", 2)]
    assert list(await h.gate.promote(EVENT, "fill")) == [Promoted("p1", "b", 2)]  # a replay
    assert list(await h.gate.promote(EVENT, "again")) == []
    assert await h.gate.confirm(EVENT, "fill") == "confirmed"
    assert (await h.gate.seating(EVENT)).sessions["b"].seated == {"p1": 2}


async def test_a_cascade_holds_what_it_gives_back(h: Harness) -> None:
    """A promotion releases the promoted person's fallback: that seat is held in turn, everyone
    touched is busy, and the decision (a cascade) can only be undone by a rebuild."""
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p1", "a")
    await c.sign_up("p1", "b")  # waits for b, a is the fallback
    await h.gate.leave(EVENT, "left", "p0", "b")  # promotes p1 at once: nothing held in b
    seating = await h.gate.seating(EVENT)
    assert seating.sessions["b"].seated == {"p1": 2}
    assert (seating.sessions["b"].held_back, seating.sessions["a"].held_back) == (0, 1)
    assert seating.busy == {"p0": 1, "p1": 1}
    await c.sign_up("p2", "a")  # a has 2 seats: one was free all along
    assert await c.sign_up("p3", "a") == [Queued("p3", "a", 3, ())]  # the other is held
    assert await h.gate.release(EVENT, "left") == "dirty"


async def test_release_of_a_left_queue_entry_passed_over_since_marks_dirty(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p1", "b")
    await c.sign_up("p2", "b")
    await h.gate.leave(EVENT, "dequeued", "p1", "b")
    await c.leave("p0", "b")  # p2 promoted: with p1 still waiting, p1 would have been
    assert await h.gate.release(EVENT, "dequeued") == "dirty"


async def test_a_queue_someone_left_promotes_nobody_until_that_is_settled(h: Harness) -> None:
    """p1 leaves b's queue, not in the log yet; then p0's seat comes free. Promoting p2 now
    would pass over p1 if p1's leave were lost (the log would still have p1 waiting ahead).
    So b holds its queue (held_queue) and stalls; on confirmation it fills, first come first
    served. Found by tests/faults/ (pg_terminate_backend): verify saw a promotion past the head."""
    c = Commands(h.gate)
    for p in ("p0", "p1", "p2"):
        await c.sign_up(p, "b")
    await h.gate.leave(EVENT, "dequeued", "p1", "b")
    held = await h.gate.seating(EVENT)
    assert held.sessions["b"].held_queue == 1
    assert await c.leave("p0", "b") == [Released("p0", "b", "cancelled")]  # nobody promoted
    stalled = await h.gate.seating(EVENT)
    assert (stalled.stalled, stalled.sessions["b"].queue()) == ({"b"}, ["p2"])
    assert list(await h.gate.promote(EVENT, "early")) == []
    assert await h.gate.confirm(EVENT, "dequeued") == "fill"
    assert list(await h.gate.promote(EVENT, "fill")) == [Promoted("p2", "b", 3)]
    assert await h.gate.confirm(EVENT, "fill") == "confirmed"
    done = await h.gate.seating(EVENT)
    assert (done.sessions["b"].held_queue, done.stalled, done.busy) == (0, set(), {})


async def test_a_promotion_holds_the_queue_it_came_from(h: Harness) -> None:
    """A promotion not in the log yet holds its queue too: were it lost, its head would still
    be waiting ahead of whoever a second freed seat went to."""
    c = Commands(h.gate)
    for p in ("p0", "p4", "p1", "p2"):
        await c.sign_up(p, "a")  # a has 2 seats: p0, p4 seated; p1, p2 queued
    await h.gate.leave(EVENT, "first", "p0", "a")  # promotes p1 at once, not confirmed
    assert (await h.gate.seating(EVENT)).sessions["a"].seated == {"p4": 2, "p1": 3}
    assert await c.leave("p4", "a") == [Released("p4", "a", "cancelled")]  # p2 must wait
    assert (await h.gate.seating(EVENT)).sessions["a"].queue() == ["p2"]
    assert await h.gate.confirm(EVENT, "first") == "fill"
    assert list(await h.gate.promote(EVENT, "fill")) == [Promoted("p2", "a", 4)]


async def test_release_after_the_participant_moved_on_marks_dirty(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "a")
    await h.gate.leave(EVENT, "left#0", "p0", "a")
    await h.gate.sign_up(EVENT, "left#1", "p0", "u")  # their agenda moved on since (version)
    assert await h.gate.release(EVENT, "left#0") == "dirty"


async def test_releasing_a_cascade_marks_dirty_until_load(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p1", "a")
    await c.sign_up("p1", "b")
    before = await h.gate.seating(EVENT)
    await h.gate.leave(EVENT, "cascade", "p0", "b")
    assert await h.gate.release(EVENT, "cascade") == "dirty"
    assert not await h.gate.is_ready(EVENT)
    for decide in (c.sign_up("p9", "u"), c.leave("p1", "a"), h.gate.seating(EVENT)):
        with pytest.raises(GateNotReady):
            await decide
    await h.gate.load(EVENT, before, "open")
    assert await h.gate.is_ready(EVENT)
    assert await h.gate.seating(EVENT) == before


async def test_a_confirmed_hold_is_never_undone(h: Harness) -> None:
    await h.gate.sign_up(EVENT, "c1", "p0", "a")
    assert await h.gate.confirm(EVENT, "c1") == "confirmed"
    assert await h.gate.confirm(EVENT, "c1") == "settled"
    assert await h.gate.release(EVENT, "c1") == "confirmed"
    assert (await h.gate.seating(EVENT)).sessions["a"].seated == {"p0": 1}
    assert await h.gate.confirm(EVENT, "never") == "unknown"


async def test_unsettled_holds_expire_for_the_reconciler(h: Harness) -> None:
    start = h.clock.now
    await h.gate.sign_up(EVENT, "c1", "p0", "a")
    h.clock.now += 1_000
    await h.gate.sign_up(EVENT, "c2", "p1", "a")
    await h.gate.sign_up(EVENT, "c3", "p2", "u")
    await h.gate.confirm(EVENT, "c3")
    assert await h.gate.expired_holds(EVENT, start + 29_999) == []
    assert await h.gate.expired_holds(EVENT, start + 30_000) == ["c1"]
    assert await h.gate.expired_holds(EVENT, start + 31_000) == ["c1", "c2"]


async def test_lost_data_is_not_ready_never_a_guess(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "a")
    await h.lose()
    assert not await h.gate.is_ready(EVENT)
    for call in (
        c.sign_up("p1", "a"),
        c.leave("p0", "a"),
        h.gate.leave_all(EVENT, "x", "p0"),
        h.gate.seating(EVENT),
        h.gate.waitlist_position(EVENT, "a", "p0"),
        h.gate.set_registration(EVENT, "closed"),
    ):
        with pytest.raises(GateNotReady):
            await call


async def test_load_restores_exactly_the_given_seating(h: Harness) -> None:
    await Commands(h.gate).sign_up("old", "c")  # replaced by the load below
    seating = programme()
    a, b, d = (seating.sessions[s] for s in "abd")
    a.seated, a.next_ticket = {"p3": 7, "p1": 2, "p2": 9}, 12  # over capacity, seat order kept
    a.waiting = {"p5": Waiting(11, None), "p4": Waiting(10, "d")}
    d.seated, d.next_ticket = {"p4": 1}, 2
    b.state, b.next_ticket = "cancelled", 5
    seating.sessions["c"].state, seating.sessions["c"].merged_into = "merged", "a"
    await h.gate.load(EVENT, seating, "closed", epoch=8)
    snapshot = await h.gate.seating(EVENT)
    assert snapshot == seating
    assert list(snapshot.sessions["a"].seated) == ["p3", "p1", "p2"]
    assert await h.gate.waitlist_position(EVENT, "a", "p4") == 1
    with pytest.raises(RegistrationClosed):
        await h.gate.sign_up(EVENT, "c9", "p9", "u")
    assert (await h.gate.leave(EVENT, "c10", "p4", "d")).epoch == 8


async def test_leave_all_drops_queues_before_seats(h: Harness) -> None:
    c = Commands(h.gate)
    await c.sign_up("p0", "b")
    await c.sign_up("p1", "a")
    await c.sign_up("p1", "b")
    assert list(await h.gate.leave_all(EVENT, "all", "p1")) == [
        Dequeued("p1", "b", "registration-cancelled"),
        Released("p1", "a", "registration-cancelled"),
    ]
    assert list(await h.gate.leave_all(EVENT, "none", "p7")) == []
    assert await h.gate.release(EVENT, "all") == "undone"
    assert await h.gate.waitlist_position(EVENT, "b", "p1") == 1


async def test_a_promotion_chain_back_to_the_same_person_releases_each_seat_once(
    h: Harness,
) -> None:
    """h waits for t holding f1 and f2 (both overlap t); the cascade from h's promotion into t
    reaches x, where h waits too, and x's promotion releases t and f2. Each seat is released
    once (seating.py once released f2 a second time and raised KeyError)."""
    seating = Seating(
        {
            "t": SessionSeats("t", at(10), at(12), 1),
            "f1": SessionSeats("f1", at(10), at(11), 1),
            "f2": SessionSeats("f2", at(11), at(12), 1),
            "y": SessionSeats("y", at(10.5), at(11.25), 1),
            "x": SessionSeats("x", at(11), at(11.5), 1),
        }
    )
    await h.gate.load(EVENT, seating, "open")
    c = Commands(h.gate)
    for p, s in [("t0", "t"), ("h", "f1"), ("h", "f2"), ("r", "x"), ("q", "y")]:
        await c.sign_up(p, s)
    for p, s in [("q", "f1"), ("r", "y"), ("h", "t"), ("h", "x")]:
        assert isinstance((await c.sign_up(p, s))[0], Queued)
    assert await c.leave("t0", "t") == [
        Released("t0", "t", "cancelled"),
        Promoted("h", "t", 2),
        Released("h", "f1", "promoted"),
        Promoted("q", "f1", 2),
        Released("q", "y", "promoted"),
        Promoted("r", "y", 2),
        Released("r", "x", "promoted"),
        Promoted("h", "x", 2),
        Released("h", "t", "promoted"),
        Released("h", "f2", "promoted"),
    ]
    after = await h.gate.seating(EVENT)
    assert {s: dict(v.seated) for s, v in after.sessions.items()} == {
        "t": {},
        "f1": {"q": 2},
        "f2": {},
        "y": {"r": 2},
        "x": {"h": 2},
    }
