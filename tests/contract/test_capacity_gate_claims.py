"""Claiming an event's rebuild (CapacityGate.claim), MemoryGate and RedisGate alike: one caller
folds the log of an event that is not ready, the others wait for it (`is_ready`) instead of
folding it again. The lease of a dead claimant is RedisGate's alone:
tests/integration/test_capacity_gate_load_steps.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from registry.capacity import CapacityGate, MemoryGate, RedisGate
from tests.contract.conftest import PART_ENTRIES
from tests.contract.test_capacity_gate import EVENT, Clock, backend, programme

__all__ = ["backend"]  # the fixture, shared with the gate's main contract suite

#: Long enough for a waiter to have answered had it not waited.
SETTLE_S = 0.2


@pytest.fixture
async def gate(backend: tuple[str, str] | None) -> AsyncIterator[CapacityGate]:
    """A gate that holds nothing of EVENT yet (as after a restart of Redis)."""
    if backend is None:
        yield MemoryGate(clock=Clock())
        return
    url, prefix = backend
    client = aioredis.Redis.from_url(url)
    try:
        yield RedisGate(client, prefix, clock=Clock(), load_part_entries=PART_ENTRIES)
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_a_ready_event_is_not_claimed(gate: CapacityGate) -> None:
    await gate.load(EVENT, programme(), "open", epoch=1)
    async with gate.claim(EVENT) as claim:
        assert claim == "ready"
        async with gate.claim(EVENT) as again:
            assert again == "ready"  # nothing was claimed


async def test_one_claim_at_a_time_then_free_again(gate: CapacityGate) -> None:
    async with gate.claim(EVENT) as first:
        assert first == "claimed"
        async with gate.claim(EVENT) as second:
            assert second == "busy"
    async with gate.claim(EVENT) as after:
        assert after == "claimed"  # the first ended without a load: the rebuild is still due


async def test_is_ready_waits_for_the_claim_and_its_load(gate: CapacityGate) -> None:
    async with gate.claim(EVENT) as claim:
        assert claim == "claimed"
        waiting = asyncio.create_task(gate.is_ready(EVENT))
        await asyncio.sleep(SETTLE_S)
        assert not waiting.done()  # it would have answered False
        await gate.load(EVENT, programme(), "open", epoch=1)
        assert await asyncio.wait_for(waiting, 5)


async def test_a_claim_that_ends_without_a_load_frees_its_waiters(gate: CapacityGate) -> None:
    waiting: list[asyncio.Task[bool]] = []

    async def failed_rebuild() -> None:
        async with gate.claim(EVENT):
            waiting.append(asyncio.create_task(gate.is_ready(EVENT)))
            await asyncio.sleep(SETTLE_S)
            assert not waiting[0].done()
            raise RuntimeError("the fold failed")

    with pytest.raises(RuntimeError, match="the fold failed"):
        await failed_rebuild()
    assert await asyncio.wait_for(waiting[0], 5) is False  # not ready: a waiter rebuilds now
    async with gate.claim(EVENT) as claim:
        assert claim == "claimed"


async def test_a_dirty_event_is_claimed_and_waited_for(gate: CapacityGate) -> None:
    await gate.load(EVENT, programme(), "open", epoch=1)
    await gate.sign_up(EVENT, "seat", "p0", "b")  # b has one seat
    await gate.sign_up(EVENT, "queued", "p1", "b")
    await gate.confirm(EVENT, "queued")
    assert await gate.release(EVENT, "seat") == "dirty"
    async with gate.claim(EVENT) as claim:
        assert claim == "claimed"
        waiting = asyncio.create_task(gate.is_ready(EVENT))
        await asyncio.sleep(SETTLE_S)
        assert not waiting.done()
        await gate.load(EVENT, programme(), "open", epoch=2)
    assert await asyncio.wait_for(waiting, 5)


async def test_a_load_while_claimed_ends_the_claim(gate: CapacityGate) -> None:
    """Another process's explicit rebuild (which claims nothing) loads meanwhile: the event is
    ready, and the claim's end takes nothing from it."""
    async with gate.claim(EVENT) as claim:
        assert claim == "claimed"
        await gate.load(EVENT, programme(), "open", epoch=1)
        async with gate.claim(EVENT) as now:
            assert now == "ready"
    assert await gate.is_ready(EVENT)
    await gate.load(EVENT, programme(), "open", epoch=2)  # a later load is not refused
    assert (await gate.sign_up(EVENT, "c1", "p0", "a")).epoch == 2
