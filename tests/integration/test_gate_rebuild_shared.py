"""Two workers starting over a gate that Redis lost (PostgreSQL and Redis, as deployed): each
event's log is folded once, by one of them (its fence moves on once), the other waits for that
rebuild, and the gates hold what the log says. tests/unit/test_gate_rebuild_shared.py has the
same with a fold made slow, where the workers are seen to share the events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from registry.capacity import RedisGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import registration, upkeep
from registry.handlers.gate_sync import GateKeeper, fold_gate
from registry.handlers.loading import load_programme
from tests.support.programme import ORG, PEOPLE, ctx, set_up

EVENTS = ("day-1", "day-2", "day-3")
EPOCHS = "SELECT event_key, epoch FROM gate_epochs"


@pytest.fixture
async def workers(
    fresh_database_url: str, client: aioredis.Redis, backend: tuple[str, str]
) -> AsyncIterator[list[tuple[GateKeeper, asyncpg.Pool]]]:
    """Two workers, each with its pool and gate client, over one database and key prefix."""
    pools = [await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=4) for _ in "ab"]
    try:
        yield [
            (
                GateKeeper(
                    PostgresEventStore(pool, EventCodec(ALL_EVENTS)), RedisGate(client, backend[1])
                ),
                pool,
            )
            for pool in pools
        ]
    finally:
        for pool in pools:
            await pool.close()


async def test_workers_starting_together_fold_each_event_once(
    workers: list[tuple[GateKeeper, asyncpg.Pool]],
    client: aioredis.Redis,
    backend: tuple[str, str],
) -> None:
    (first, pool), _ = workers
    for event_id in EVENTS:
        await set_up(first, event_id)
        for person, session in zip(PEOPLE, "aabbco", strict=True):
            await registration.sign_up(
                first, ctx(), event_id, person, cmd.SignUp(session_id=session)
            )
    async for key in client.scan_iter(match=f"{backend[1]}*"):  # Redis restarted empty
        await client.delete(key)
    epochs = dict(await pool.fetch(EPOCHS))

    rebuilt = await asyncio.gather(*(upkeep.rebuild_unready(worker) for worker, _ in workers))

    assert sum(rebuilt) == len(EVENTS)
    after = dict(await pool.fetch(EPOCHS))
    assert after == {key: epoch + 1 for key, epoch in epochs.items()}, "one fold per event"
    for event_id in EVENTS:
        programme, _ = await load_programme(first.store, ORG, event_id)
        seating, _ = await fold_gate(first.store, ORG, programme)
        assert await first.gate.seating(f"{ORG}:{event_id}") == seating
