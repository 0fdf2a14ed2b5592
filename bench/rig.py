"""What the sign-up benchmarks share (signup_http.py, sweep.py, growth.py): the stores, a scratch
database with keys and the row-lock and bare baselines' tables, the four servers, the set-up of
a crowd through the API, and one measured load with everything sampled alongside it.

A measured load is wrk walking a list of requests (bench/http_load.py) while these run beside it:
CPU per request by process group (bench/cpu.py), the RSS of every server process (bench/rss.py),
optionally the projections' lag (bench/lag.py) and reads at a fixed rate from a client of their
own (bench/open_loop.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import psutil
from redis.asyncio import Redis

from bench import cpu, http_load, servers
from bench.bare_app import SCHEMA as BARE_SCHEMA
from bench.http_load import LoadResult, Request
from bench.lag import LAG, LagSampler
from bench.naive_app import SCHEMA as NAIVE_SCHEMA
from bench.open_loop import ReadLoad
from bench.rss import RssSampler
from bench.signup_checks import create_naive_sessions
from bench.signup_plans import Plan, create_programme
from bench.support import scratch_database
from registry.auth.keys import create_key
from registry.eventstore.pg_queries import HEAD

DESIGNS: Final = ("registry", "naive row lock", "framework floor", "bare pipeline")


@dataclass
class Measured:
    load: LoadResult
    cpu_ms: dict[str, float]  # CPU per request, by group (bench/cpu.py)
    rss: RssSampler
    lag: str | None = None  # the projections' lag during the load (registry only)
    reads: ReadLoad | None = None  # the reads sent alongside, if any

    def show(self, design: str) -> None:
        print(f"  {design:16} {self.load.summary()}")
        cpu_line = ", ".join(f"{g} {ms:.2f}" for g, ms in self.cpu_ms.items())
        rate = self.load.rate
        others = self.cpu_ms["other"] * rate / 1000  # cores busy with neither server nor store
        print(f"  {'':16}   CPU ms per request: {cpu_line} (other = {others:.2f} cores)")
        for status, body in sorted(self.load.problems.items()):
            print(f"  {'':16}   e.g. {status}: {body}")
        if self.reads:
            print(f"  {'':16}   reads alongside: {self.reads.summary()}")
        if self.lag:
            print(f"  {'':16}   {self.lag}")
        print(f"  {'':16}   {self.rss.summary()}")


@dataclass
class Reads:
    path: str  # e.g. /v1/events/broad/occupancy
    rate: float  # per second


@dataclass
class Context:
    env: dict[str, str]
    keys: dict[str, str]
    roots: dict[str, int]  # postgres and redis root processes, for the CPU split
    connections: int
    time_limit: int

    @property
    def database_url(self) -> str:
        return self.env["REGISTRY_DATABASE_URL"]

    def measure(
        self,
        server: servers.Server,
        requests: list[Request],
        lag: bool = False,
        reads: Reads | None = None,
        connections: int | None = None,
        time_limit: int | None = None,
    ) -> Measured:
        """One load, with CPU and RSS sampled; with `lag`, the projections' lag; with `reads`,
        an open-loop reader at their rate with the organiser's key."""
        roots = self.roots | {"server": server.pid}
        limit = time_limit or self.time_limit
        with contextlib.ExitStack() as stack:
            rss = stack.enter_context(RssSampler(server.pid))
            sampler = stack.enter_context(LagSampler(self.database_url)) if lag else None
            reader = None
            if reads:
                key = self.keys["organiser"]
                reader = ReadLoad(server.url, reads.path, reads.rate, key, limit + 5)
                stack.enter_context(reader.running())
            before = cpu.sample(roots)
            load = http_load.run(
                server.url,
                requests,
                connections=connections or self.connections,
                time_limit=limit,
                headers=[
                    f"Authorization: Bearer {self.keys['form']}",
                    "Content-Type: application/json",
                ],
            )
            after = cpu.sample(roots)
        measured = Measured(load, cpu.per_request_ms(before, after, load.answered), rss)
        measured.lag = sampler.summary() if sampler else None
        measured.reads = reader
        return measured


@contextlib.asynccontextmanager
async def prepared(
    dsn: str | None,
    redis_url: str | None,
    plans: Iterable[Plan],
    connections: int,
    time_limit: int,
) -> AsyncIterator[tuple[Context, asyncpg.Connection]]:
    """A scratch database (migrated, keys of org "bench" for an organiser and a form, the row
    lock's tables with the plans' sessions) and a Redis prefix of its own, both removed after."""
    dsn = dsn or os.environ.get("REGISTRY_DATABASE_URL")
    redis_url = redis_url or os.environ.get("REGISTRY_REDIS_URL")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        if dsn is None or redis_url is None:
            from registry.embedded import EmbeddedServers

            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            embedded = stack.enter_context(EmbeddedServers(folder))
            dsn, redis_url = dsn or embedded.database_url, redis_url or embedded.redis_url
        async with scratch_database(dsn) as url:
            conn = await asyncpg.connect(url)
            try:
                keys = {r: await create_key(conn, r, "bench") for r in ("organiser", "form")}
                await conn.execute(NAIVE_SCHEMA)
                await conn.execute(BARE_SCHEMA)
                for plan in plans:
                    await create_naive_sessions(conn, plan)
                env = dict(os.environ) | {
                    "REGISTRY_DATABASE_URL": url,
                    "REGISTRY_REDIS_URL": redis_url,
                    "REGISTRY_REDIS_PREFIX": prefix,
                    "BENCH_NAIVE_DSN": url,
                }
                roots = await _store_roots(conn, redis_url)
                yield Context(env, keys, roots, connections, time_limit), conn
            finally:
                await conn.close()
                await _drop_redis_keys(redis_url, prefix)


def _granian(target: str) -> Callable[[int], list[str]]:
    return lambda port: servers.granian_command(target, port)


COMMANDS: Final = {
    DESIGNS[0]: (servers.registry_serve_command, "/ready"),
    DESIGNS[1]: (_granian("bench.naive_app:create_app"), "/health"),
    DESIGNS[2]: (_granian("bench.floor_app:create_app"), "/health"),
    DESIGNS[3]: (_granian("bench.bare_app:create_app"), "/health"),
}


@contextlib.contextmanager
def running(
    ctx: Context, designs: Iterable[str] = DESIGNS, ready_timeout: float = 60
) -> Iterator[dict[str, servers.Server]]:
    """The chosen servers side by side (an idle one costs nothing), stopped on the way out."""
    with contextlib.ExitStack() as stack:
        started = {}
        for design in designs:
            command, ready = COMMANDS[design]
            started[design] = stack.enter_context(
                servers.running(command, ctx.env, ready, ready_timeout)
            )
        yield started


SETUP_LIMIT: Final = 600  # seconds for a crowd's registrations (not a measured load)


def set_up(
    ctx: Context, registry: servers.Server, plan: Plan, time_limit: int = SETUP_LIMIT
) -> None:
    """The plan's programme and participants through the API, timed on their own (up to
    `time_limit` s for the participants, whatever the loads' time limit)."""
    began = time.perf_counter()
    create_programme(registry.url, ctx.keys["organiser"], plan)
    took = time.perf_counter() - began
    print(f"setup, {plan.name} ({plan.event}): programme of {len(plan.sessions):,} sessions and")
    print(f"  {len(plan.rooms):,} rooms in {took:.1f} s; {len(plan.participants):,} participants:")
    setup = ctx.measure(registry, plan.registrations(), time_limit=time_limit)
    setup.show("registrations")
    if setup.load.statuses[201] < len(plan.participants):
        print("  (setup incomplete: sign-ups of the missing participants will answer 404)")


CHAINED: Final = "SELECT coalesce(max(position), 0) FROM event_hashes"


async def wait_caught_up(url: str, limit: float, every: float = 10) -> float:
    """Wait until every projection and the hash chainer reached the log's head; the seconds it
    took. Progress is printed every `every` seconds; gives up (says so) after `limit`."""
    conn = await asyncpg.connect(url)
    try:
        began = shown = time.monotonic()
        head = await conn.fetchval(HEAD)
        while True:
            lag = await conn.fetchval(LAG)  # age of the oldest event not in every read model
            chained = await conn.fetchval(CHAINED)
            now = time.monotonic()
            if lag == 0 and chained >= head:
                return now - began
            if now - began > limit:
                print(f"  gave up waiting after {limit:.0f} s (chain at {chained:,} of {head:,})")
                return now - began
            if now - shown >= every:
                shown = now
                print(f"  catching up: {now - began:.0f} s, chain at {chained:,} of {head:,}")
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def _store_roots(conn: asyncpg.Connection, redis_url: str) -> dict[str, int]:
    """The postmaster (our backend's parent) and the Redis server's pid; both run here, on
    127.0.0.1 or a local socket, as every load in bench/ must."""
    roots = {"postgres": psutil.Process(await conn.fetchval("SELECT pg_backend_pid()")).ppid()}
    redis = Redis.from_url(redis_url)
    try:
        roots["redis"] = int((await redis.info("server"))["process_id"])
    finally:
        await redis.aclose()
    return roots


async def _drop_redis_keys(redis_url: str, prefix: str) -> None:
    """Our gate state only (the prefix is this run's), when Redis is a shared server."""
    redis = Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
            await redis.delete(key)
    finally:
        await redis.aclose()


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the stores are (else REGISTRY_DATABASE_URL / REGISTRY_REDIS_URL, else embedded)."""
    parser.add_argument("--dsn", help="PostgreSQL server URL (a scratch database is made on it)")
    parser.add_argument("--redis-url", help="Redis URL (keys under a prefix of this run's)")


def ready_to_load() -> None:
    """What every script that loads with wrk needs first: wrk, and lines shown at once."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package wrk)")
    line_buffered()


def line_buffered() -> None:
    """Progress lines show at once when the output goes to a file (a long run's log)."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
