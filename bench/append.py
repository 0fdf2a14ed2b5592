"""Append throughput of the event store against raw asyncpg INSERTs of the same rows.

    uv run python bench/append.py [--dsn URL] [--seconds 5]

For 1 and 50 concurrent writers, with 1 and 10 events per append, each scenario runs for a fixed
time (bounded) and prints events/s for the store and for the baseline (one transaction per append
inserting the same rows into the same table, with no version check, no idempotency and no fence
bookkeeping), and their ratio. Without --dsn it uses REGISTRY_DATABASE_URL, else an embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import asyncpg

from bench.support import scratch_database
from registry import dbroles
from registry.domain.event import Event
from registry.eventstore import ANY, EventCodec, StreamAppend
from registry.eventstore.postgres import PostgresEventStore


class Deposited(Event, frozen=True):
    type_name = "bench.Deposited"
    amount: int
    note: str


RAW_INSERT = """
INSERT INTO events (position, event_id, stream_id, stream_version, type, schema_version, data,
                    metadata, recorded_at, transaction_id)
SELECT nextval('events_position_seq'), e.id, $1, $2 + e.n, 'bench.Deposited', 1, e.data, '{}',
       clock_timestamp(), pg_current_xact_id()
  FROM unnest($3::uuid[], $4::jsonb[]) WITH ORDINALITY AS e(id, data, n)
"""

DATA = '{"amount": 5, "note": "a typical small fact"}'


async def run_for(seconds: float, writers: int, one_append: object) -> int:
    """Run `writers` loops of `one_append(writer, i)` for `seconds`; return appends done."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def loop(writer: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await one_append(writer, i)  # type: ignore[operator]
            i += 1
            done += 1

    await asyncio.gather(*(loop(w) for w in range(writers)))
    return done


async def scenario(url: str, seconds: float, writers: int, per_append: int) -> None:
    # The store as the service runs it (role registry_app); the baseline as the tables' owner,
    # the only one allowed raw INSERTs. One pool at a time: 50 connections each.
    pool = await dbroles.create_pool(url, min_size=writers, max_size=writers)
    try:
        store_count = await run_for(seconds, writers, _store_append(pool, per_append))
    finally:
        await pool.close()
    pool = await asyncpg.create_pool(url, min_size=writers, max_size=writers)
    try:
        raw_count = await run_for(seconds, writers, _raw_append(pool, per_append))
    finally:
        await pool.close()
    store_rate = store_count * per_append / seconds
    raw_rate = raw_count * per_append / seconds
    print(
        f"{writers:>3} writers x {per_append:>2} events/append | store {store_rate:>8.0f} ev/s"
        f" | raw INSERT {raw_rate:>8.0f} ev/s | ratio {store_rate / raw_rate:.2f}"
    )


def _store_append(pool: asyncpg.Pool, per_append: int) -> object:
    store = PostgresEventStore(pool, EventCodec([Deposited]))
    tag = uuid.uuid4().hex[:6]
    events = [Deposited(amount=5, note="a typical small fact")] * per_append

    async def store_append(writer: int, i: int) -> None:
        await store.append([StreamAppend(f"bench-s{tag}w{writer}", ANY, events)])

    return store_append


def _raw_append(pool: asyncpg.Pool, per_append: int) -> object:
    tag = uuid.uuid4().hex[:6]

    async def raw_append(writer: int, i: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            ids = [uuid.uuid4() for _ in range(per_append)]
            await conn.execute(
                RAW_INSERT, f"bench-r{tag}w{writer}", i * per_append, ids, [DATA] * per_append
            )

    return raw_append


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server URL (a scratch database is created on it)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario and design")
    args = parser.parse_args()
    async with scratch_database(args.dsn) as url:
        print(f"append benchmark, {args.seconds:.0f} s per figure")
        for writers in (1, 50):
            for per_append in (1, 10):
                await scenario(url, args.seconds, writers, per_append)


if __name__ == "__main__":
    asyncio.run(main())
