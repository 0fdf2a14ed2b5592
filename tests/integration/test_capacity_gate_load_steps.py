"""A RedisGate load in steps (load.lua): nothing of the old state survives it, a later load
takes over from an earlier one half-way, and while a load is under way decisions wait for it
(`is_ready`) instead of beginning another, unless its process died (the lease)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from registry.capacity import RedisGate
from registry.capacity.errors import GateNotReady
from registry.capacity.roster import Roster
from registry.domain.errors import TimeConflict
from registry.domain.seating import Queued, Seated, Seating, SessionSeats, Waiting

EVENT = "org-steps:day-1"
START, END = datetime(2024, 1, 11, 14, tzinfo=UTC), datetime(2024, 1, 11, 15, tzinfo=UTC)
Run = Callable[[str, str, list[str], Sequence[str | bytes]], Awaitable[str]]


def programme(talk: dict[str, int] | None = None, walk: dict[str, int] | None = None) -> Seating:
    """Two sessions at the same time (a seat in one is a time conflict with the other), and a
    bus after them."""
    later = datetime(2024, 1, 11, 16, tzinfo=UTC)
    return Seating(
        {
            "talk": SessionSeats("talk", START, END, 2, seated=dict(talk or {}), next_ticket=3),
            "walk": SessionSeats("walk", START, END, 2, seated=dict(walk or {}), next_ticket=3),
            # With `walk`: the bus is full (p1) and p2 waits for it.
            "bus": SessionSeats(
                "bus", END, later, 1, seated={"p1": 1}, waiting={"p2": Waiting(2, None)}
            )
            if walk
            else SessionSeats("bus", END, later, 1, next_ticket=3),
        }
    )


def pause_before(gate: RedisGate, step: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Make `gate`'s loads stop before their first `step` until `go` is set; `reached` says
    they got there."""
    reached, go = asyncio.Event(), asyncio.Event()
    run: Run = gate._run

    async def paused(
        name: str, event_key: str, keys: list[str], args: Sequence[str | bytes]
    ) -> str:
        if name == "load" and args[0] == step and not go.is_set():
            reached.set()
            await go.wait()
        return await run(name, event_key, keys, args)

    gate._run = paused  # type: ignore[method-assign]
    return reached, go


async def test_a_reload_leaves_nothing_of_the_old_state(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    prefix = backend[1]
    gate = RedisGate(client, prefix, load_part_entries=2)
    everyone = Roster(frozenset({"p0", "p1", "p2"}), frozenset())
    await gate.load(EVENT, programme(talk={"p0": 1}, walk={"p1": 1}), "open", 1, everyone)
    with pytest.raises(TimeConflict):  # p0 holds the talk, at the walk's time (a free seat)
        await gate.sign_up(EVENT, "c0", "p0", "walk")

    await gate.load(EVENT, programme(), "open", 2, Roster(frozenset({"p0"}), frozenset()))

    assert await gate.is_ready(EVENT)
    assert await gate.sign_up(EVENT, "c1", "p0", "walk") == [Seated("p0", "walk", 3)]
    assert all(
        not s.seated or s.session_id == "walk"
        for s in (await gate.seating(EVENT)).sessions.values()
    )
    roster = await gate.roster(EVENT)
    assert roster.registered == {"p0"} and not roster.cancelled
    left = {
        k.decode().rsplit(":", 2)[-2:][0] + ":" + k.decode().rsplit(":", 1)[-1]
        async for k in client.scan_iter(match=f"{prefix}*agenda:*")
    }
    assert left == {"agenda:p0"}, left  # p1's and p2's agendas went with the old state
    assert not await client.exists(gate.base(EVENT) + "loading")


def record_steps(gate: RedisGate) -> list[Sequence[str | bytes]]:
    """The ARGV of every load step `gate` runs from now on."""
    steps: list[Sequence[str | bytes]] = []
    run: Run = gate._run

    async def recorded(
        name: str, event_key: str, keys: list[str], args: Sequence[str | bytes]
    ) -> str:
        if name == "load":
            steps.append(args)
        return await run(name, event_key, keys, args)

    gate._run = recorded  # type: ignore[method-assign]
    return steps


async def test_a_session_larger_than_a_part_is_loaded_and_cleared_in_slices(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    gate = RedisGate(client, backend[1], load_part_entries=3)
    steps = record_steps(gate)
    seated = {f"s{n}": 7 - n for n in range(7)}  # seat order is not ticket order
    waiting = {f"w{n}": Waiting(8 + n, "talk" if n == 2 else None) for n in range(5)}
    big = SessionSeats("big", START, END, 7, seated=seated, waiting=waiting, next_ticket=13)
    await gate.load(EVENT, Seating({"big": big}), "open", 1)

    parts = [json.loads(args[3]) for args in steps if args[0] == "part"]
    assert len(parts) == 6, parts  # 12 people, 2 a part beside the session's record
    assert [len(part["sessions"]) for part in parts] == [1] * 6
    loaded = (await gate.seating(EVENT)).sessions["big"]
    assert list(loaded.seated.items()) == list(seated.items())  # in seat order
    assert loaded.waiting == waiting and loaded.next_ticket == 13
    # What exact undoing compares with (holds.lua), carried across the slices.
    counters = ("seat_seq", "max_seat", "max_queue")
    assert await client.hmget(gate.base(EVENT) + "session:big", counters) == [b"7", b"7", b"12"]
    assert await gate.waitlist_position(EVENT, "big", "w4") == 5
    assert await gate.sign_up(EVENT, "c1", "w9", "big") == [Queued("w9", "big", 13, ())]

    steps.clear()
    await gate.load(EVENT, programme(), "open", 2)
    clears = [args for args in steps if args[0] == "clear"]
    assert len(clears) >= 5, clears  # 13 people and the session, ~3 a step
    assert set((await gate.seating(EVENT)).sessions) == {"talk", "walk", "bus"}
    left = [k async for k in client.scan_iter(match=f"{backend[1]}*big*")]
    left += [k async for k in client.scan_iter(match=f"{backend[1]}*agenda:[sw]*")]
    assert left == [], left


async def test_a_later_load_takes_over_from_one_half_way(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    prefix = backend[1]
    first = RedisGate(client, prefix, load_part_entries=2)
    second = RedisGate(client, prefix, load_part_entries=2)
    reached, go = pause_before(first, "part")
    earlier = asyncio.create_task(first.load(EVENT, programme(talk={"p0": 1}), "open", 5))
    await reached.wait()

    await second.load(EVENT, programme(walk={"p1": 1}), "closed", 6)
    go.set()
    await earlier  # its next step answered STALE: it stopped, changing nothing

    seating = await second.seating(EVENT)
    assert seating.sessions["talk"].seated == {}
    assert seating.sessions["walk"].seated == {"p1": 1}
    assert await client.get(second.base(EVENT) + "sentinel") == b"6"
    assert await client.get(second.base(EVENT) + "registration") == b"closed"


async def test_decisions_wait_for_a_load_under_way_instead_of_loading_again(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    prefix = backend[1]
    loader = RedisGate(client, prefix, load_part_entries=2)
    other = RedisGate(client, prefix)  # another process's gate
    await other.load(EVENT, programme(), "open", 1)
    reached, go = pause_before(loader, "finish")
    loading = asyncio.create_task(
        loader.load(EVENT, programme(talk={"p0": 1}, walk={"p3": 1}), "open", 2)
    )
    await reached.wait()

    with pytest.raises(GateNotReady):  # half a state is never decided on
        await other.sign_up(EVENT, "c0", "p1", "talk")
    ready = asyncio.create_task(other.is_ready(EVENT))
    place = asyncio.create_task(other.waitlist_position(EVENT, "bus", "p2"))  # an agenda's read
    await asyncio.sleep(0.1)
    assert not ready.done(), "is_ready answered while the load was under way"
    assert not place.done(), "a waitlist position was read while the load was under way"
    go.set()
    await loading
    assert await asyncio.wait_for(ready, 5)
    assert await asyncio.wait_for(place, 5) == 1
    assert await other.sign_up(EVENT, "c1", "p1", "talk") == [Seated("p1", "talk", 3)]


async def test_a_load_whose_process_died_is_waited_for_only_until_its_lease(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    prefix = backend[1]
    loader = RedisGate(client, prefix, load_part_entries=2, load_lease_ms=300)
    reached, _ = pause_before(loader, "part")
    died = asyncio.create_task(loader.load(EVENT, programme(talk={"p0": 1}), "open", 2))
    await reached.wait()
    died.cancel()  # never goes on: as if its process had died

    assert await asyncio.wait_for(RedisGate(client, prefix).is_ready(EVENT), 5) is False
    await RedisGate(client, prefix).load(EVENT, programme(), "open", 3)  # the rebuild then due
    assert await loader.is_ready(EVENT)


async def test_a_claim_is_renewed_while_its_rebuild_lasts(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    """A fold of a big event takes seconds: the claim outlives its lease while it goes on."""
    prefix = backend[1]
    claimant = RedisGate(client, prefix, load_lease_ms=300)
    async with claimant.claim(EVENT) as claim:
        assert claim == "claimed"
        await asyncio.sleep(1.0)  # three leases
        async with RedisGate(client, prefix).claim(EVENT) as other:
            assert other == "busy"
    assert await client.exists(f"{claimant.base(EVENT)}loading") == 0  # dropped at its end


async def test_a_claim_whose_process_died_is_waited_for_only_until_its_lease(
    client: aioredis.Redis, backend: tuple[str, str]
) -> None:
    prefix = backend[1]
    claimant = RedisGate(client, prefix)
    # The claim step alone, as `claim` sends it: never renewed, never dropped (the process died).
    claimed = await claimant._run(
        "load", EVENT, claimant._event_keys(EVENT), ["claim", "dead", "300"]
    )
    assert claimed == "CLAIMED"

    began = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(RedisGate(client, prefix).is_ready(EVENT), 5) is False
    assert asyncio.get_running_loop().time() - began >= 0.2  # it did wait (the lease: 300 ms)
    async with RedisGate(client, prefix).claim(EVENT) as claim:
        assert claim == "claimed"
