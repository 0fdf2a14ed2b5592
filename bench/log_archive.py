"""Costs of the partitioned log (migrations 0060-0066, registry.archive).

    uv run python -m bench.log_archive [--events 200000] [--partition 100000] [--dsn URL]

On scratch databases, with bench/replay_log.py's generated log (a programme per conference,
registrations and seat facts, COPYed in):

- migration: a database migrated up to 0059 holding --events events, then 0060-0066 applied
  (the rows copied into the partitioned table, the indexes built): seconds, while the log is
  locked;
- default to range: --events events in the DEFAULT partition (appends past the last range
  partition), then `ensure_event_partitions` turning them into a range partition: the seconds
  appends wait;
- archive: the log chained and sealed, every projection's checkpoint set to the head, then
  `registry log archive` of the oldest partition (--partition positions): seconds, events/s,
  the file's bytes per event;
- read back: registry.archive.store reading the archived range (the rebuild's and verify's read),
  and the archive's check (registry.archive.files.check_files: SHA-256 plus the chain).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.replay_log import load, make_world
from bench.support import scratch_database
from projections import PROJECTIONS
from registry.archive.archiver import archive_before
from registry.archive.files import check_files
from registry.archive.partitions import ensure_partitions
from registry.archive.records import load_archives
from registry.archive.store import ArchiveReadingStore
from registry.audit.chainer import ChainState, SealPolicy, chain_batch
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.migrations import apply_migrations, load_migrations, migrations_dir

CODEC = EventCodec(ALL_EVENTS)
PARTITIONED = "0060"
CHECKPOINTS = """
INSERT INTO projection_state (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING;
"""
AT_HEAD = """
INSERT INTO projection_checkpoints (name, generation, position)
SELECT name, live_generation, $2 FROM projection_state WHERE name = ANY($1::text[])
ON CONFLICT (name, generation) DO UPDATE SET position = excluded.position
"""


async def generated(url: str, events: int, seed: int) -> int:
    rng = random.Random(seed)
    world = make_world(rng, events, max(events // 100, 50), max(events // 20_000, 2))
    return await load(url, CODEC, world, rng, events)


async def migration(server: str | None, events: int) -> None:
    async with scratch_database(server) as url:
        admin = await asyncpg.connect(url)
        name = await admin.fetchval("SELECT current_database()")
        await admin.close()
        # A second database, migrated only up to before the partitioning.
        base = url.rsplit("/", 1)[0]
        older = f"{name}_old"
        conn = await asyncpg.connect(url)
        await conn.execute(f'CREATE DATABASE "{older}"')
        await conn.close()
        old_url = f"{base}/{older}"
        try:
            with tempfile.TemporaryDirectory(prefix="bench-migrations-") as folder:
                for m in load_migrations():
                    if m.name < PARTITIONED:
                        shutil.copy(migrations_dir() / m.name, Path(folder) / m.name)
                await apply_migrations(old_url, Path(folder))
            total = await generated(old_url, events, 1)
            began = time.perf_counter()
            applied = await apply_migrations(old_url)
            took = time.perf_counter() - began
            print(f"migration {applied[0]}..{applied[-1]} over {total:,} events: {took:.1f} s "
                  f"({total / took:,.0f} events/s)")  # fmt: skip
        finally:
            conn = await asyncpg.connect(url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{older}" WITH (FORCE)')
            await conn.close()


async def default_to_range(server: str | None, events: int, partition: int) -> None:
    async with scratch_database(server) as url:
        total = await generated(url, events, 2)  # no partition yet: all in the default
        conn = await asyncpg.connect(url, server_settings={"statement_timeout": "0"})
        try:
            began = time.perf_counter()
            made = await ensure_partitions(conn, ahead=0, size=partition)
            took = time.perf_counter() - began
            print(f"default to range: {total:,} rows into {made[0]}: {took:.2f} s")
        finally:
            await conn.close()


async def archive(server: str | None, events: int, partition: int) -> None:
    async with scratch_database(server) as url:
        conn = await asyncpg.connect(url, server_settings={"statement_timeout": "0"})
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            await ensure_partitions(conn, ahead=-(-events // partition) + 1, size=partition)
            await generated(url, events, 3)
            state = ChainState(sealed_clock=time.monotonic())
            began = time.perf_counter()
            while await chain_batch(conn, state, seals=SealPolicy(every=10_000)):
                pass
            print(f"chained {state.position:,} in {time.perf_counter() - began:.1f} s")
            names = [p.name for p in PROJECTIONS]
            await conn.execute(CHECKPOINTS, names)
            await conn.execute(AT_HEAD, names, state.position)
            with tempfile.TemporaryDirectory(prefix="bench-archive-") as folder:
                began = time.perf_counter()
                done = await archive_before(
                    conn, partition + 1, Path(folder), continuing_streams=True
                )
                took = time.perf_counter() - began
                a = done[0].archive
                print(f"archive of {a.events:,} events: {took:.1f} s ({a.events / took:,.0f} "
                      f"events/s), {a.bytes:,} bytes gzipped ({a.bytes / a.events:.0f} bytes an "
                      "event)")  # fmt: skip
                store = ArchiveReadingStore(pool, CODEC)
                began = time.perf_counter()
                position, read = 1, 0
                while position <= a.last_position and (
                    batch := await store.read_all(position, 5000)
                ):
                    read += sum(1 for e in batch if e.position <= a.last_position)
                    position = batch[-1].position + 1
                took = time.perf_counter() - began
                print(f"read back through the store: {read:,} in {took:.1f} s "
                      f"({read / took:,.0f} events/s)")  # fmt: skip
                began = time.perf_counter()
                assert check_files(await load_archives(conn)) == []
                took = time.perf_counter() - began
                print(f"check of the file (SHA-256 + chain): {took:.1f} s "
                      f"({a.events / took:,.0f} events/s)")  # fmt: skip
        finally:
            await pool.close()
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partition", type=int, default=100_000)
    parser.add_argument("--dsn", default=None)
    args = parser.parse_args()
    asyncio.run(migration(args.dsn, args.events))
    asyncio.run(default_to_range(args.dsn, args.events, args.partition))
    asyncio.run(archive(args.dsn, args.events, args.partition))


if __name__ == "__main__":
    main()
