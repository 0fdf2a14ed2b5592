"""Calls made together: RedisGate sends the calls about one event made in the same turn of the
event loop as one script (capacity/batching.py). Whatever it decides then must be what the
reference decides for the same calls made one after another, in the order they were made."""

from __future__ import annotations

import asyncio
import random
import uuid

import redis.asyncio as aioredis

from registry.capacity import CapacityGate, MemoryGate, RedisGate, Roster
from registry.capacity.gate import Decision
from tests.contract.conftest import PART_ENTRIES
from tests.contract.test_capacity_gate import EVENT, Clock, programme

PEOPLE = [f"p{n}" for n in range(12)]
ROSTER = Roster(registered=frozenset(PEOPLE))


async def rounds(gate: CapacityGate, seed: int) -> list[object]:
    """Rounds of calls made together: sign-ups, leaves, cancellations, admissions to the roster,
    confirms and releases of the round before. Outcomes (decisions or refusals) in the order the
    calls were made."""
    rng = random.Random(seed)
    outcomes: list[object] = []
    held: list[str] = []
    for r in range(8):
        calls = []
        for n in range(10):
            command, p, s = f"c{r}-{n}", rng.choice(PEOPLE), rng.choice("abcdeu")
            roll = rng.random()
            if roll < 0.5:
                calls.append(gate.sign_up(EVENT, command, p, s, on_roster=True))
            elif roll < 0.7:
                calls.append(gate.leave(EVENT, command, p, s, on_roster=True))
            elif roll < 0.85:
                calls.append(gate.leave_all(EVENT, command, p, on_roster=True))
            else:  # back on the roster, or 'cancelled' after a leave_all made before it
                calls.append(gate.admit(EVENT, p))
        for command in held:
            settle = gate.confirm if rng.random() < 0.9 else gate.release
            calls.append(settle(EVENT, command))
        results = await asyncio.gather(*calls, return_exceptions=True)
        held = [f"c{r}-{n}" for n, d in enumerate(results[:10]) if isinstance(d, Decision)]
        outcomes += [
            (list(x), x.waitlist_position) if isinstance(x, Decision) else repr(x) for x in results
        ]
    return outcomes


async def evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_calls_made_together_are_decided_as_made_in_turn(
    redis_url: str, redis_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    prefix = f"{redis_prefix}-{uuid.uuid4().hex[:8]}"
    decided = 0
    try:
        for seed in range(12):
            memory = MemoryGate(clock=Clock())
            redis_gate = RedisGate(
                client, f"{prefix}-{seed}", clock=Clock(), load_part_entries=PART_ENTRIES
            )
            for gate in (memory, redis_gate):
                await gate.load(EVENT, programme(), "open", 1, ROSTER)
            scripts_before = await evalsha_calls(client)
            together = await rounds(redis_gate, seed)
            # 8 rounds of 10 - 20 calls: one script per round, not one per call (the bound
            # leaves room for other clients of a shared server)
            assert await evalsha_calls(client) - scripts_before <= 40, "calls were not gathered"
            assert together == await rounds(memory, seed), seed
            ready = await memory.is_ready(EVENT)  # an inexact release leaves it dirty
            assert await redis_gate.is_ready(EVENT) == ready
            if ready:
                assert await redis_gate.seating(EVENT) == await memory.seating(EVENT)
                assert await redis_gate.roster(EVENT) == await memory.roster(EVENT)
            decided += ready
        assert decided >= 3, "too few runs ended with a gate to compare"
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_admissions_made_together_go_in_one_script(redis_url: str, redis_prefix: str) -> None:
    """Each registration admits its participant (a crowd registering: dozens at once)."""
    client = aioredis.Redis.from_url(redis_url)
    prefix = f"{redis_prefix}-{uuid.uuid4().hex[:8]}"
    try:
        gate = RedisGate(client, prefix, clock=Clock(), load_part_entries=PART_ENTRIES)
        await gate.load(EVENT, programme(), "open", 1, Roster(cancelled=frozenset({"gone"})))
        newcomers = [f"n{n}" for n in range(20)]
        before = await evalsha_calls(client)
        outcomes = await asyncio.gather(*(gate.admit(EVENT, p) for p in [*newcomers, "gone"]))
        # one script, not 21 (the bound leaves room for other clients of a shared server)
        assert await evalsha_calls(client) - before <= 3
        assert outcomes == ["admitted"] * 20 + ["cancelled"]
        assert (await gate.roster(EVENT)).registered == frozenset(newcomers)
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()
