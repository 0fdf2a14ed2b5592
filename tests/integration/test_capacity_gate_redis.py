"""RedisGate under load and against Redis's own behaviour: concurrency, expiry with the real
clock, a flushed script cache, and every key of an event in one cluster slot."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from registry.capacity import RedisGate
from registry.capacity.gate import Decision, wall_clock_ms
from registry.capacity.redis_gate import script_source
from registry.domain.seating import Promoted, Queued, Seated, Seating, SessionSeats, Waiting

EVENT = "org-load:day-1"
SIGN_UPS = 2_000
SEATS = 100
IN_FLIGHT = 64  # redis-py's asyncio pool holds 100 connections and refuses more (no waiting)


def one_session(capacity: int | None = SEATS) -> Seating:
    start, end = datetime(2024, 1, 11, 14, tzinfo=UTC), datetime(2024, 1, 11, 15, tzinfo=UTC)
    return Seating({"talk": SessionSeats("talk", start, end, capacity)})


@pytest.mark.slow
async def test_two_thousand_concurrent_sign_ups_for_a_hundred_seats(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    gate = RedisGate(client, backend[1])
    await gate.load(EVENT, one_session(), "open")
    gate_in = asyncio.Semaphore(IN_FLIGHT)

    async def sign_up(n: int) -> Decision:
        async with gate_in:
            return await gate.sign_up(EVENT, f"cmd-{n}", f"p{n}", "talk")

    async def confirm(n: int) -> bool:
        async with gate_in:
            return await gate.confirm(EVENT, f"cmd-{n}")

    started = time.perf_counter()
    decisions = await asyncio.gather(*(sign_up(n) for n in range(SIGN_UPS)))
    decided = time.perf_counter() - started

    assert all(len(d) == 1 for d in decisions)
    seated = [d[0] for d in decisions if isinstance(d[0], Seated)]
    queued = [d for d in decisions if isinstance(d[0], Queued)]
    assert (len(seated), len(queued)) == (SEATS, SIGN_UPS - SEATS)
    tickets = [c.ticket for c in seated] + [d[0].ticket for d in queued if isinstance(d[0], Queued)]
    assert sorted(tickets) == list(range(1, SIGN_UPS + 1))  # each used once
    assert sorted(c.ticket for c in seated) == list(range(1, SEATS + 1))
    assert sorted(d.waitlist_position or 0 for d in queued) == list(range(1, SIGN_UPS - SEATS + 1))

    seating = await gate.seating(EVENT)
    talk = seating.sessions["talk"]
    assert len(talk.seated) == SEATS
    assert len(talk.waiting) == SIGN_UPS - SEATS
    assert talk.next_ticket == SIGN_UPS + 1
    entries = [d[0] for d in queued if isinstance(d[0], Queued)]
    for entry in entries[:50]:
        position = await gate.waitlist_position(EVENT, "talk", entry.participant_id)
        assert position == entry.ticket - SEATS

    started = time.perf_counter()
    confirmed = await asyncio.gather(*(confirm(n) for n in range(SIGN_UPS)))
    confirming = time.perf_counter() - started
    assert all(confirmed)
    assert await gate.expired_holds(EVENT, wall_clock_ms() + 3_600_000) == []
    print(
        f"\n{SIGN_UPS} sign-ups, {IN_FLIGHT} in flight: {decided:.2f} s "
        f"({SIGN_UPS / decided:,.0f}/s); {SIGN_UPS} confirms: {confirming:.2f} s"
    )


async def test_sequential_decisions_take_one_round_trip_each(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    gate = RedisGate(client, backend[1])
    await gate.load(EVENT, one_session(capacity=None), "open")
    await gate.sign_up(EVENT, "warm", "p-warm", "talk")
    n = 300
    started = time.perf_counter()
    for i in range(n):
        await gate.sign_up(EVENT, f"seq-{i}", f"s{i}", "talk")
    per_decision = (time.perf_counter() - started) / n
    print(f"\none decision after another: {per_decision * 1000:.3f} ms each")


async def test_unconfirmed_holds_expire_after_the_ttl(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    gate = RedisGate(client, backend[1], hold_ttl_ms=200)
    await gate.load(EVENT, one_session(), "open")
    for n in range(3):
        await gate.sign_up(EVENT, f"cmd-{n}", f"p{n}", "talk")
    await gate.confirm(EVENT, "cmd-1")
    assert await gate.expired_holds(EVENT, wall_clock_ms()) == []
    await asyncio.sleep(0.35)
    assert await gate.expired_holds(EVENT, wall_clock_ms()) == ["cmd-0", "cmd-2"]
    assert await gate.release(EVENT, "cmd-2") == "undone"  # the reconciler found no append
    assert await gate.confirm(EVENT, "cmd-0")
    assert await gate.expired_holds(EVENT, wall_clock_ms()) == []


async def test_a_flushed_script_cache_is_reloaded(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    gate = RedisGate(client, backend[1])
    await gate.load(EVENT, one_session(), "open")
    assert await gate.sign_up(EVENT, "before", "p0", "talk") == [Seated("p0", "talk", 1)]
    await client.script_flush()  # as after a restart or a failover: NOSCRIPT on the next call
    assert await gate.sign_up(EVENT, "after", "p1", "talk") == [Seated("p1", "talk", 2)]
    assert await gate.release(EVENT, "after") == "undone"
    sha = client.register_script(script_source("batch")).sha
    assert await client.script_exists(sha) == [True]


async def test_a_script_that_fails_half_way_marks_the_event_dirty(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    gate = RedisGate(client, backend[1])
    await gate.load(EVENT, one_session(), "open")
    await client.set(gate.base(EVENT) + "version", "not a hash")  # a write fails mid-script
    with pytest.raises(ResponseError):
        await gate.sign_up(EVENT, "c0", "p0", "talk")
    assert not await gate.is_ready(EVENT)
    await gate.load(EVENT, one_session(), "open")
    assert await gate.sign_up(EVENT, "c0", "p0", "talk") == [Seated("p0", "talk", 1)]


async def test_every_key_of_an_event_is_in_one_cluster_slot(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    prefix = backend[1]
    gate = RedisGate(client, prefix)
    await gate.load(EVENT, one_session(capacity=1), "open")
    await gate.sign_up(EVENT, "c0", "p0", "talk")
    await gate.sign_up(EVENT, "c1", "p1", "talk")
    await gate.confirm(EVENT, "c0")
    keys = [k.decode() async for k in client.scan_iter(match=f"{prefix}*")]
    assert len(keys) >= 10
    assert all(k.startswith(f"{prefix}:{{{EVENT}}}:") for k in keys)
    assert len({key_slot(k.encode()) for k in keys}) == 1


async def test_the_reconcilers_promote_looks_on_a_due_mark_or_none(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    """`promote(only_if_due=True)` walks the event unless the mark says no fill since the last
    one ("0"); a gate written before the mark existed (no key) is looked at."""
    gate = RedisGate(client, backend[1])
    await gate.load(EVENT, one_session(capacity=1), "open")
    due = gate.base(EVENT) + "fill_due"
    assert await client.get(due) == b"1"  # a load may leave a seat free beside a queue
    assert list(await gate.promote(EVENT, "after-load", only_if_due=True)) == []
    assert await client.get(due) == b"0"
    assert await gate.sign_up(EVENT, "c0", "p0", "talk") == [Seated("p0", "talk", 1)]
    assert await gate.confirm(EVENT, "c0") == "confirmed"
    await gate.leave(EVENT, "left", "p0", "talk")  # the seat is held back until confirmed
    assert list(await gate.sign_up(EVENT, "c1", "p1", "talk")) == [Queued("p1", "talk", 2, ())]
    assert await gate.confirm(EVENT, "c1") == "confirmed"
    assert await gate.confirm(EVENT, "left") == "fill"  # and its caller dies before filling
    assert await client.get(due) == b"2"
    await client.set(due, "0")  # as if no fill were due: the reconciler does not look
    assert list(await gate.promote(EVENT, "not-due", only_if_due=True)) == []
    await client.delete(due)  # as a gate from before the mark: it looks
    filled = await gate.promote(EVENT, "reconciled", only_if_due=True)
    assert [(c.participant_id, c.session_id) for c in filled] == [("p1", "talk")]
    assert await client.get(due) == b"0"


def early_and_talk() -> Seating:
    """ "early" (9:00, two seats) with one seat free beside a queue, as a rebuild may find it (a
    queue entry made behind its seat: test_capacity_gate_differential.py); "talk" (14:00, one)."""
    early = SessionSeats(
        "early",
        datetime(2024, 1, 11, 9, tzinfo=UTC),
        datetime(2024, 1, 11, 10, tzinfo=UTC),
        2,
        seated={"a": 1},
        waiting={"w": Waiting(2, None)},
        next_ticket=3,
    )
    return Seating({"early": early, "talk": one_session(capacity=1).sessions["talk"]})


async def give_back_talks_seat(gate: RedisGate, holder: str, queuer: str, n: int) -> None:
    """`holder` leaves talk (the seat held back until confirmed) while `queuer` queues there;
    the leave's confirmation then finds the seat free beside the queue: a fill is due."""
    await gate.leave(EVENT, f"left-{n}", holder, "talk")
    queued = await gate.sign_up(EVENT, f"queued-{n}", queuer, "talk")
    assert list(queued) == [Queued(queuer, "talk", n + 1, ())]
    assert await gate.confirm(EVENT, f"queued-{n}") == "confirmed"
    assert await gate.confirm(EVENT, f"left-{n}") == "fill"


def promoted(changes: Decision) -> list[tuple[str, str]]:
    return [(c.participant_id, c.session_id) for c in changes if isinstance(c, Promoted)]


async def test_a_fill_walks_every_session_after_a_load_else_only_those_handed_over(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    """After a load ("1") a fill walks every session; after a confirmation that freed a seat
    beside a queue ("2"), only the sessions it names (`fill_from`) and the stalled ones. A "2"
    never hides a "1", and a "1" without `fill_from` (what a process of the version before the
    index leaves) walks every session."""
    gate = RedisGate(client, backend[1])
    due, index = gate.base(EVENT) + "fill_due", gate.base(EVENT) + "fill_from"
    await gate.load(EVENT, early_and_talk(), "open")
    assert await gate.sign_up(EVENT, "p0", "p0", "talk") == [Seated("p0", "talk", 1)]
    assert await gate.confirm(EVENT, "p0") == "confirmed"
    await give_back_talks_seat(gate, "p0", "p1", 1)
    assert await client.get(due) == b"1"  # the load's mark stands
    assert await client.smembers(index) == {b"talk"}
    filled = await gate.promote(EVENT, "fill-1")
    assert promoted(filled) == [("w", "early"), ("p1", "talk")]  # earliest session first
    assert await client.get(due) == b"0" and not await client.exists(index)
    assert await gate.confirm(EVENT, "fill-1") == "confirmed"

    # early full again, then given a third seat behind the gate's back (no command can do that:
    # an organiser's change reloads the gate): a free seat beside a queue that no confirmation
    # named. The next fill after a confirmation does not look there; that is the index's point.
    assert list(await gate.sign_up(EVENT, "x", "x", "early")) == [Queued("x", "early", 3, ())]
    assert await gate.confirm(EVENT, "x") == "confirmed"
    await client.hset(gate.base(EVENT) + "session:early", "cap", 3)
    await give_back_talks_seat(gate, "p1", "p2", 2)
    assert await client.get(due) == b"2"
    assert promoted(await gate.promote(EVENT, "fill-2")) == [("p2", "talk")]
    assert await gate.confirm(EVENT, "fill-2") == "confirmed"

    # A process of the version before the index marks "1" and names nothing: every session.
    await client.set(due, "1")
    assert promoted(await gate.promote(EVENT, "fill-3", only_if_due=True)) == [("x", "early")]
