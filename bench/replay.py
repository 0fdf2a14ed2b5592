"""Replay speed of the projections: rebuilds from position 1 of a large generated log.

    uv run python -m bench.replay [--events 1000000] [--sessions 2000] [--dsn URL]

A scratch database (bench.support: on --dsn's server, else REGISTRY_DATABASE_URL, else an
embedded server in a temporary folder) is migrated, then loaded with COPY, straight into `events`
and `streams`, with a log of --events sign-up facts over --sessions sessions of a few events:
each event's programme first (EventCreated, RoomAdded, SessionScheduled per session,
RegistrationOpened), then participants registering (ParticipantRegistered + EmailClaimed, as
`register_participant` appends them) and signing up: mostly SeatAssigned and Waitlisted, some
SeatReleased (with the head of the waitlist's PromotedFromWaitlist in the same append) and
WaitlistLeft, consistent per participant and per session. Rows are what append_events writes:
positions contiguous from 1, stream versions, the codec's JSON, metadata, recorded_at per append.
transaction_id is the id of the loading transaction that wrote the row, one per chunk of about
20,000 rows of whole appends (a fresh server has too few ids behind it for one per append; the
readers only compare it with their fence, and ids grow with positions as append_events makes
them). Then VACUUM ANALYZE. The COPY is slow (about 6,000 rows/s on 2 cores) because of the
events table's CHECK on stream_id: PostgreSQL's regex engine spends about 0.1 ms per row on its
bounded repetitions ({0,31}, {0,199}); every append pays it too.

Measured, in this order, each over the whole log in batches of rebuild.REBUILD_BATCH:
- fetch only: the store's READ_ALL query through asyncpg, rows left undecoded;
- read_all: PostgresEventStore.read_all (fetch + decode into RecordedEvent), nothing applied;
- rebuild of each projection (catalog, occupancy, seats, waitlists), each from position 1.
Figures: events/s (events in the log / seconds), the ratio to the issue's aim of 150,000
events/s, and rebuild / read_all (near 1: reading and decoding dominate; far below: applying).
Each figure comes with the CPU seconds it cost in this process ("python": asyncpg, decoding,
the projection's code), in this database's PostgreSQL backends, and in everything else on the
machine ("other": work that shared the cores with this run, so a figure taken with much of it is
not to be trusted). Afterwards the rebuilt models are checked against the generator's final state.

Before measuring, the generator's objects are dropped and the heap frozen (gc.freeze), so that
the replay runs with a heap like a projector's, not with millions of the generator's objects.
Readers see the log only behind the store's read fence: should it hide part of the log after the
load, the script names the open transactions and waits (up to --time-limit).

Each phase is cut at --time-limit seconds (its rate is then over the events reached). No --lag
mode: lag under load is measured elsewhere (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import psutil
from tqdm import tqdm

from bench.replay_log import World, load, make_world, wait_for_fence
from bench.support import scratch_database
from projections import PROJECTIONS
from projections.base import Projection
from projections.rebuild import REBUILD_BATCH, rebuild
from registry import dbroles
from registry.domain.events import (
    ALL_EVENTS,
)
from registry.eventstore import EventCodec
from registry.eventstore.pg_queries import FENCE, READ_ALL
from registry.eventstore.postgres import PostgresEventStore

AIM: Final = 150_000  # events/s, the aim for a rebuild


# -- the measurements -----------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    seconds: float
    reached: int
    done: bool
    cpu: dict[str, float]  # CPU seconds: "python" (this process), "postgres", "other"

    def rate(self) -> float:
        return self.reached / self.seconds if self.seconds else 0.0


class Cpu:
    """CPU seconds of this process, of this database's PostgreSQL backends (when the server runs
    on this machine) and of everything else on the machine ("other": other work that shares the
    cores with this run)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.me = psutil.Process()

    async def sample(self) -> dict[str, float]:
        mine = self.me.cpu_times()
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        backends = 0.0
        for pid in await self.pool.fetch(BACKENDS):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid["pid"])
                if "postgres" in proc.name():
                    times = proc.cpu_times()
                    backends += times.user + times.system
        return {"python": mine.user + mine.system, "postgres": backends, "busy": busy}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        out = {who: after[who] - before[who] for who in ("python", "postgres")}
        out["other"] = max(0.0, after["busy"] - before["busy"] - sum(out.values()))
        return out


BACKENDS: Final = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"


async def timed(
    name: str,
    total: int,
    limit: float,
    cpu: Cpu,
    run: Callable[[Callable[[int], None]], Awaitable[Any]],
) -> Figure:
    """Run `run(progress)` for at most `limit` seconds; progress(position) feeds the bar."""
    reached = 0
    with tqdm(total=total, desc=name, unit="ev", unit_scale=True, leave=False) as bar:

        def progress(position: int) -> None:
            nonlocal reached
            reached = position
            bar.update(position - bar.n)

        before = await cpu.sample()
        began = time.perf_counter()
        done = True
        try:
            async with asyncio.timeout(limit):
                await run(progress)
        except TimeoutError:
            done = False
        seconds = time.perf_counter() - began
        after = await cpu.sample()
    return Figure(name, seconds, reached, done, Cpu.spent(before, after))


async def fetch_only(pool: asyncpg.Pool, batch: int, progress: Callable[[int], None]) -> None:
    position = 1
    while True:
        async with pool.acquire() as conn:
            fence = await conn.fetchval(FENCE)  # as PostgresEventStore.read_all does
            got = await conn.fetch(READ_ALL, position, batch, fence)
        if not got:
            return
        position = got[-1]["position"] + 1
        progress(position - 1)


async def read_only(store: PostgresEventStore, batch: int, progress: Callable[[int], None]) -> None:
    position = 1
    while events := await store.read_all(position, batch):
        position = events[-1].position + 1
        progress(position - 1)


def _live(table: str, projection: str, what: str) -> str:
    return (
        f"SELECT coalesce({what}, 0) FROM {table} t JOIN projection_state s"
        f" ON s.name = '{projection}' AND t.generation = s.live_generation"
    )


#: What to check after the rebuilds: (projection, query of its live generation).
CHECKS: Final = {
    "seated (occupancy)": ("occupancy", _live("rm_occupancy", "occupancy", "sum(seated)")),
    "waiting (occupancy)": ("occupancy", _live("rm_occupancy", "occupancy", "sum(waitlisted)")),
    "seats": ("seats", _live("rm_seats", "seats", "count(*)")),
    "waitlist entries": ("waitlists", _live("rm_waits", "waitlists", "count(*)")),
    "participants": ("catalog", _live("rm_participants", "catalog", "count(*)")),
    "sessions": ("catalog", _live("rm_sessions", "catalog", "count(*)")),
}


def expected(world: World) -> dict[str, int]:
    """What the read models must hold once the whole log is applied."""
    return {
        "seated (occupancy)": len(world.held),
        "waiting (occupancy)": len(world.waits),
        "seats": len(world.held),
        "waitlist entries": len(world.waits),
        "participants": sum(len(c.registered) for c in world.conferences),
        "sessions": sum(len(c.sessions) for c in world.conferences),
    }


async def check(pool: asyncpg.Pool, want: dict[str, int], rebuilt: set[str]) -> list[str]:
    """The rebuilt models against what the generator left; the mismatches."""
    wrong = []
    async with pool.acquire() as conn:
        for what, (projection, sql) in CHECKS.items():
            if projection in rebuilt and (got := await conn.fetchval(sql)) != want[what]:
                wrong.append(f"{what}: {got} in the model, {want[what]} generated")
    return wrong


def describe(world: World, total: int, sessions: int, seconds: float) -> str:
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(world.counts.items(), key=lambda kv: -kv[1]))
    return (
        f"log: {total:,} events ({sum(world.counts.values()):,} seat facts: {mix}; "
        f"{sum(len(c.registered) for c in world.conferences):,} participants, "
        f"{sessions:,} sessions in {len(world.conferences)} events); "
        f"generated + COPY + VACUUM ANALYZE in {seconds:.0f} s"
    )


async def measure(args: argparse.Namespace, url: str) -> None:
    rng = random.Random(args.seed)
    codec = EventCodec(ALL_EVENTS)
    world = make_world(rng, args.events, args.sessions, args.conferences)
    began = time.perf_counter()
    total = await load(url, codec, world, rng, args.events)
    print(describe(world, total, args.sessions, time.perf_counter() - began))
    want = expected(world)
    # The generator's state (millions of objects) would make every full garbage collection of
    # the replay below walk it: a cost a projector process does not have.
    del world
    gc.collect()
    gc.freeze()
    await wait_for_fence(url, total, args.time_limit)
    chosen = [p for p in PROJECTIONS if p.name in args.projections]
    pool = await dbroles.create_pool(url, min_size=2, max_size=4)  # as the service
    try:
        cpu = Cpu(pool)
        store = PostgresEventStore(pool, codec)
        batch, limit = args.batch, args.time_limit
        figures = [
            await timed("fetch only", total, limit, cpu, lambda p: fetch_only(pool, batch, p)),
            await timed("read_all", total, limit, cpu, lambda p: read_only(store, batch, p)),
        ]
        for projection in chosen:
            run = _rebuilder(pool, store, projection, batch)
            figures.append(await timed(f"rebuild {projection.name}", total, limit, cpu, run))
        report(figures, total, batch, limit)
        finished = {f.name.removeprefix("rebuild ") for f in figures if f.done}
        wrong = await check(pool, want, finished)
        print("checks:", "; ".join(wrong) if wrong else "the rebuilt models match the generator")
    finally:
        try:
            await asyncio.wait_for(pool.close(), 10)
        except TimeoutError:
            pool.terminate()


def report(figures: list[Figure], total: int, batch: int, limit: float) -> None:
    read = figures[1].rate()
    print(f"\nreplay of {total:,} events, batches of {batch:,} (aim {AIM:,} events/s):")
    print(
        f"  {'':18} {'seconds':>8} {'events/s':>10}   / aim  / read_all"
        "  CPU s: python + postgres (other)"
    )
    for f in figures:
        versus = f"{f.rate() / read:9.2f}" if f.name.startswith("rebuild") else " " * 9
        cpu = f"{f.cpu['python']:.1f} + {f.cpu['postgres']:.1f} ({f.cpu['other']:.1f})"
        cut = "" if f.done else f"  (cut at {limit:.0f} s: {f.reached:,} events)"
        if f.done and f.reached != total:
            cut = f"  (read {f.reached:,} events, not {total:,})"
        print(
            f"  {f.name:18} {f.seconds:8.1f} {f.rate():>10,.0f} {f.rate() / AIM:7.2f} {versus}"
            f"  {cpu}{cut}"
        )


def _rebuilder(
    pool: asyncpg.Pool, store: PostgresEventStore, projection: Projection, batch: int
) -> Callable[[Callable[[int], None]], Awaitable[Any]]:
    def run(progress: Callable[[int], None]) -> Awaitable[Any]:
        return rebuild(
            pool, store, projection, batch_size=batch, progress=lambda pos, _head: progress(pos)
        )

    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server URL (a scratch database is created on it)")
    parser.add_argument("--events", type=int, default=1_000_000, help="seat facts in the log")
    parser.add_argument("--sessions", type=int, default=2_000)
    parser.add_argument("--conferences", type=int, default=4, help="events the sessions are in")
    parser.add_argument("--batch", type=int, default=REBUILD_BATCH, help="events per read")
    parser.add_argument(
        "--projections",
        type=lambda s: set(s.split(",")),
        default={p.name for p in PROJECTIONS},
        help="comma-separated; default all",
    )
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        async with scratch_database(args.dsn) as url:
            await measure(args, url)


if __name__ == "__main__":
    asyncio.run(main())
