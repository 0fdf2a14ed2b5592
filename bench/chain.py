"""Speed of the hash chain: the chainer over a large generated log, and what reads it back.

    uv run python -m bench.chain [--events 1000000] [--sessions 2000] [--dsn URL]

The log is bench/replay_log.py's (a programme per conference, registrations, --events seat facts,
COPYed into a scratch database, see bench/replay.py's docstring). Then, each over the whole log
and cut at --time-limit seconds:

- fetch only: the chainer's query (READ_AFTER behind the fence) in batches, rows not hashed;
- hash only: the canonical encoding and SHA-256 of those rows in Python, nothing else timed;
- chainer: registry.audit.chainer.chain_batch from position 0 (fetch, hash, insert the links,
  seal every 10,000): the figure that must stay well above the sign-up load;
- verify: registry.audit.chain_check.chain_report over the chained log (both cursors, re-hash);
- export: registry.audit.export.export_log into a temporary file;
- import: registry.audit.import_log.import_log of that file into a second scratch database
  (skipped with --no-import).

Baseline: the sign-up load it must keep up with: SIGNUP_EVENTS_PER_S, the most bench/signup_http
measured on this machine (about 500 sign-ups/s, at most two facts each: bench/README.md).
Each figure comes with its CPU seconds in Python and in this database's PostgreSQL backends.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import asyncpg

from bench.replay import Cpu, Figure, timed
from bench.replay_log import load, make_world, wait_for_fence
from bench.support import scratch_database
from registry.audit.chain import LoggedEvent, chain
from registry.audit.chain_check import chain_report
from registry.audit.chainer import BATCH_SIZE, READ_AFTER, ChainState, chain_batch
from registry.audit.export import export_log
from registry.audit.import_log import import_log
from registry.audit.log_file import open_for_reading, open_for_writing
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.pg_queries import FENCE

#: Sign-ups/s x facts per sign-up, the most the API took on this machine (bench/README.md).
SIGNUP_EVENTS_PER_S: Final = 500 * 2


async def fetch_only(conn: asyncpg.Connection, progress: Callable[[int], None]) -> None:
    position = 0
    while rows := await conn.fetch(READ_AFTER, position, BATCH_SIZE, await conn.fetchval(FENCE)):
        position = rows[-1]["position"]
        progress(position)


async def hash_only(conn: asyncpg.Connection, progress: Callable[[int], None]) -> float:
    """Seconds spent hashing (fetching is not counted)."""
    position, previous, spent = 0, bytes(32), 0.0
    while rows := await conn.fetch(READ_AFTER, position, BATCH_SIZE, await conn.fetchval(FENCE)):
        began = time.perf_counter()
        links = list(chain(map(LoggedEvent._make, rows), previous, position))
        spent += time.perf_counter() - began
        position, previous = links[-1].position, links[-1].hash
        progress(position)
    return spent


async def chainer(conn: asyncpg.Connection, progress: Callable[[int], None]) -> None:
    state = ChainState(sealed_clock=time.monotonic())
    while await chain_batch(conn, state):
        progress(state.position)


async def measure(args: argparse.Namespace, url: str, second: str | None) -> None:
    rng = random.Random(args.seed)
    world = make_world(rng, args.events, args.sessions, args.conferences)
    began = time.perf_counter()
    total = await load(url, EventCodec(ALL_EVENTS), world, rng, args.events)
    print(f"log: {total:,} events, generated + COPY in {time.perf_counter() - began:.0f} s")
    del world
    gc.collect()
    gc.freeze()
    await wait_for_fence(url, total, args.time_limit)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    conn = await asyncpg.connect(url, server_settings={"statement_timeout": "0"})
    limit = args.time_limit
    try:
        cpu = Cpu(pool)
        figures = [await timed("fetch only", total, limit, cpu, lambda p: fetch_only(conn, p))]
        hashing: list[float] = []

        async def hash_run(p: Callable[[int], None]) -> None:
            hashing.append(await hash_only(conn, p))

        figures.append(await timed("hash only", total, limit, cpu, hash_run))
        if hashing:  # the hashing seconds alone, not the fetches around them
            figures[-1].seconds = hashing[0]
        figures.append(await timed("chainer", total, limit, cpu, lambda p: chainer(conn, p)))
        figures.append(
            await timed("verify", total, limit, cpu, lambda p: _verify(conn, p, figures[-1]))
        )
        with tempfile.TemporaryDirectory(prefix="bench-chain-") as folder:
            path = Path(folder) / "log.jsonl"
            figures.append(
                await timed("export", total, limit, cpu, lambda p: _export(conn, path, p))
            )
            if second is not None:
                figures.append(
                    await timed("import", total, limit, cpu, lambda p: _import(second, path, p))
                )
            size = path.stat().st_size
        report(figures, total, size)
    finally:
        await conn.close()
        await pool.close()


async def _verify(
    conn: asyncpg.Connection, progress: Callable[[int], None], chained: Figure
) -> None:
    report = await chain_report(conn, progress)
    if report.findings:
        raise SystemExit(f"verify found {report.findings[:3]}")
    if chained.done and report.pending:
        raise SystemExit(f"{report.pending} events left unhashed by the chainer")


async def _export(conn: asyncpg.Connection, path: Path, progress: Callable[[int], None]) -> None:
    with open_for_writing(path, compress=False) as out:
        await export_log(conn, out, on_progress=progress)


async def _import(url: str, path: Path, progress: Callable[[int], None]) -> None:
    conn = await asyncpg.connect(url, server_settings={"statement_timeout": "0"})
    try:
        with open_for_reading(path) as lines:
            await import_log(conn, lines, on_progress=progress)
    finally:
        await conn.close()


def report(figures: list[Figure], total: int, size: int) -> None:
    print(
        f"\nhash chain over {total:,} events "
        f"(baseline: {SIGNUP_EVENTS_PER_S:,} events/s of sign-ups):"
    )
    print(f"  {'':12} {'seconds':>8} {'events/s':>10}  x sign-ups  CPU s: python + postgres")
    for f in figures:
        cut = "" if f.done else f"  (cut at {f.reached:,})"
        print(
            f"  {f.name:12} {f.seconds:8.1f} {f.rate():10,.0f}"
            f"  {f.rate() / SIGNUP_EVENTS_PER_S:9.0f}"
            f"  {f.cpu['python']:.1f} + {f.cpu['postgres']:.1f}{cut}"
        )
    print(f"  export file: {size / total if total else 0:,.0f} bytes per event")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--conferences", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dsn", help="server URL (default: REGISTRY_DATABASE_URL or embedded)")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--no-import", action="store_true", help="skip the import phase")
    args = parser.parse_args()
    async with scratch_database(args.dsn) as url:
        if args.no_import:
            await measure(args, url, None)
            return
        async with scratch_database(args.dsn) as second:
            await measure(args, url, second)


if __name__ == "__main__":
    asyncio.run(main())
