"""Rebuild a projection from position 1 into a fresh generation, then swap it in.

The live generation keeps being served and kept current by its runner the whole time. The new
generation catches up batch by batch (its own checkpoint row); once a read comes back short it
takes the swap: in one transaction it locks the projection's state row (waiting for the live
runner's batch in flight, whose transaction holds it FOR SHARE), applies whatever the log gained
meanwhile, and points `live_generation` at the new rows. The runner's next batch finds the new
generation and carries on from its checkpoint; the old rows are deleted afterwards. No DDL at
run time: generations are rows (migrations/0010).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import asyncpg

from projections import checkpoints
from projections.base import Projection
from registry.eventstore import EventStore, RecordedEvent

REBUILD_BATCH: Final = 5_000

NEXT_GENERATION: Final = """
SELECT greatest(max(generation), (SELECT live_generation FROM projection_state WHERE name = $1)) + 1
  FROM projection_checkpoints WHERE name = $1
"""
START: Final = """
INSERT INTO projection_checkpoints (name, generation) VALUES ($1, $2)
"""
LIVE_GENERATION: Final = "SELECT live_generation FROM projection_state WHERE name = $1"
LOCK_STATE: Final = "SELECT live_generation FROM projection_state WHERE name = $1 FOR UPDATE"
CHECKPOINT: Final = """
SELECT position FROM projection_checkpoints WHERE name = $1 AND generation = $2 FOR UPDATE
"""
SWAP: Final = "UPDATE projection_state SET live_generation = $2 WHERE name = $1"
DROP_CHECKPOINT: Final = "DELETE FROM projection_checkpoints WHERE name = $1 AND generation = $2"
DROP_OTHER_CHECKPOINTS: Final = """
DELETE FROM projection_checkpoints WHERE name = $1 AND generation <> $2
"""
TRY_REBUILD: Final = "SELECT pg_try_advisory_lock($1, hashtext($2))"
END_REBUILD: Final = "SELECT pg_advisory_unlock($1, hashtext($2))"


class RebuildBusy(RuntimeError):
    """Another rebuild of this projection is running."""


def _delete_generation(table: str) -> str:
    # Table names come from the projection's own `tables`, never from input.
    return f"DELETE FROM {table} WHERE generation = $1"


def _delete_all_but(table: str) -> str:
    return f"DELETE FROM {table} WHERE generation <> $1"


async def rebuild(
    pool: asyncpg.Pool,
    store: EventStore,
    projection: Projection,
    *,
    batch_size: int = REBUILD_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Replay the whole log into a new generation and swap it in; returns (generation, position).
    `progress(position, head)` is called after every batch."""
    name = projection.name
    async with pool.acquire() as lock:
        await checkpoints.ensure(lock, name)
        if not await lock.fetchval(TRY_REBUILD, checkpoints.REBUILD_LOCK_CLASS, name):
            raise RebuildBusy(f"a rebuild of {name} is running already")
        try:
            await _clear_leftovers(pool, projection)
            generation = await lock.fetchval(NEXT_GENERATION, name)
            await lock.execute(START, name, generation)
            position = 0
            while True:
                events = await store.read_all(position + 1, batch_size)
                if len(events) < batch_size:
                    old = await _swap(pool, store, projection, generation, batch_size)
                    break
                position = await _apply(pool, projection, generation, events)
                if progress is not None:
                    progress(position, await store.head())
            final = await checkpoints.live(lock, name)
            if progress is not None:
                progress(final.position, final.position)
            await _clear(pool, projection, old)
            await lock.execute(DROP_CHECKPOINT, name, old)
            return generation, final.position
        finally:
            await lock.fetchval(END_REBUILD, checkpoints.REBUILD_LOCK_CLASS, name)


async def _apply(
    pool: asyncpg.Pool, projection: Projection, generation: int, events: list[RecordedEvent]
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        await projection.apply(conn, generation, events)
        last = events[-1]
        await conn.execute(
            checkpoints.ADVANCE, projection.name, generation, last.position, last.recorded_at
        )
    return int(last.position)


async def _swap(
    pool: asyncpg.Pool,
    store: EventStore,
    projection: Projection,
    generation: int,
    batch_size: int,
) -> int:
    """Catch up to the fenced head under the state row's lock and make `generation` live;
    returns the generation replaced."""
    name = projection.name
    async with pool.acquire() as conn, conn.transaction():
        old: int = await conn.fetchval(LOCK_STATE, name)
        position: int = await conn.fetchval(CHECKPOINT, name, generation)
        while events := await store.read_all(position + 1, batch_size):
            await projection.apply(conn, generation, events)
            last = events[-1]
            await conn.execute(
                checkpoints.ADVANCE, name, generation, last.position, last.recorded_at
            )
            position = last.position
        await conn.execute(SWAP, name, generation)
    return old


async def _clear_leftovers(pool: asyncpg.Pool, projection: Projection) -> None:
    """Rows and checkpoints of generations neither live nor being built: what a rebuild that
    crashed (or was stopped) left behind. Under the rebuild lock nobody else uses them."""
    async with pool.acquire() as conn, conn.transaction():
        live: int = await conn.fetchval(LIVE_GENERATION, projection.name)
        for table in projection.tables:
            await conn.execute(_delete_all_but(table), live)
        await conn.execute(DROP_OTHER_CHECKPOINTS, projection.name, live)


async def _clear(pool: asyncpg.Pool, projection: Projection, generation: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for table in projection.tables:
            await conn.execute(_delete_generation(table), generation)
