"""Sign-ups/s over HTTP through the real service, against a row-lock design and the framework floor.

    uv run python -m bench.signup_http [--participants 20000] [--connections 64] [--time-limit 120]

Starts `registry serve --workers 2 --no-migrate` on a free 127.0.0.1 port against a scratch
database (migrated) and Redis under a prefix of its own, with an organiser and a form key of org
"bench". Through the API it creates two events with their rooms and sessions, opens registration
and registers every participant (timed on its own, not part of the sign-up figures). Then:

* flash crowd: 2,000 participants sign up for one 100-seat session;
* broad crowd: N participants, 4 rounds x 10 parallel sessions, one sign-up per round each.

The same (participant, session) pairs, in the same order, go to two baselines under the same
granian with the same 2 workers: bench/naive_app.py (one transaction per sign-up under a
`SELECT ... FOR UPDATE` row lock on the session, its own tables in the scratch database) and
bench/floor_app.py (the same route and body, a fixed answer, no I/O). The client is wrk with
bench/walk.lua (bench/http_load.py says why not an asyncio client), C connections with HTTP/1.1
keep-alive; each request is sent once, and a scenario stops at its last answer or its time limit.

Printed per scenario and server: sign-ups/s, p50/p95/p99, answers by status, CPU ms per
request split between the server, PostgreSQL, Redis and everything else (bench/cpu.py: on 2
shared cores the rate moves with whatever else runs, CPU per request much less), the product's
figure as a ratio to each baseline, and the invariants read back afterwards: no session over
capacity (from the log: SeatAssigned + PromotedFromWaitlist - SeatReleased per session) and every
201 answer's position naming its own fact in the log. Database and Redis come from --dsn /
--redis-url, else REGISTRY_DATABASE_URL / REGISTRY_REDIS_URL, else embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
from redis.asyncio import Redis

from bench import cpu, http_load, servers
from bench.http_load import LoadResult, Request
from bench.lag import LagSampler
from bench.naive_app import SCHEMA as NAIVE_SCHEMA
from bench.signup_checks import check_log, check_naive, create_naive_sessions
from bench.signup_plans import Plan, broad_crowd, create_programme, flash_crowd
from bench.support import scratch_database
from registry.auth.keys import create_key

DESIGNS = ("registry", "naive row lock", "framework floor")


@dataclass
class Backends:
    server_url: str  # PostgreSQL server; the scratch database is made on it
    redis_url: str


@dataclass
class Measured:
    load: LoadResult
    cpu_ms: dict[str, float]  # CPU per request, by group (bench/cpu.py)
    lag: str | None = None  # the projections' lag during the load (registry only)

    def show(self, design: str) -> None:
        print(f"  {design:16} {self.load.summary()}")
        cpu_line = ", ".join(f"{g} {ms:.2f}" for g, ms in self.cpu_ms.items())
        rate = self.load.rate
        others = self.cpu_ms["other"] * rate / 1000  # cores busy with neither server nor store
        print(f"  {'':16}   CPU ms per request: {cpu_line} (other = {others:.2f} cores)")
        for status, body in sorted(self.load.problems.items()):
            print(f"  {'':16}   e.g. {status}: {body}")
        if self.lag:
            print(f"  {'':16}   {self.lag}")


@dataclass
class Context:
    args: argparse.Namespace
    env: dict[str, str]
    keys: dict[str, str]
    roots: dict[str, int]  # postgres and redis root processes, for the CPU split

    def measure(
        self, server: servers.Server, requests: list[Request], lag: bool = False
    ) -> Measured:
        """One load; with `lag`, the projections' lag sampled meanwhile (bench/lag.py)."""
        roots = self.roots | {"server": server.pid}
        before = cpu.sample(roots)
        with (
            LagSampler(self.env["REGISTRY_DATABASE_URL"]) if lag else contextlib.nullcontext() as s
        ):
            load = http_load.run(
                server.url,
                requests,
                connections=self.args.connections,
                time_limit=self.args.time_limit,
                headers=[
                    f"Authorization: Bearer {self.keys['form']}",
                    "Content-Type: application/json",
                ],
            )
        measured = Measured(load, cpu.per_request_ms(before, cpu.sample(roots), load.answered))
        measured.lag = s.summary() if isinstance(s, LagSampler) else None
        return measured


@contextlib.asynccontextmanager
async def backends(dsn: str | None, redis_url: str | None) -> AsyncIterator[Backends]:
    dsn = dsn or os.environ.get("REGISTRY_DATABASE_URL")
    redis_url = redis_url or os.environ.get("REGISTRY_REDIS_URL")
    with contextlib.ExitStack() as stack:
        if dsn is None or redis_url is None:
            from registry.embedded import EmbeddedServers

            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            embedded = stack.enter_context(EmbeddedServers(folder))
            dsn, redis_url = dsn or embedded.database_url, redis_url or embedded.redis_url
        yield Backends(dsn, redis_url)


def run_all(ctx: Context, plans: list[Plan]) -> dict[str, dict[str, Measured]]:
    """All three servers run side by side (an idle one costs nothing), and each crowd goes to
    the three in turn: a change in the machine's other load then hits them alike."""

    def granian(target: str) -> Callable[[int], list[str]]:
        return lambda port: servers.granian_command(target, port)

    results: dict[str, dict[str, Measured]] = {d: {} for d in DESIGNS}
    with contextlib.ExitStack() as stack:
        running = {
            DESIGNS[0]: stack.enter_context(
                servers.running(servers.registry_serve_command, ctx.env, "/ready")
            ),
            DESIGNS[1]: stack.enter_context(
                servers.running(granian("bench.naive_app:create_app"), ctx.env, "/health")
            ),
            DESIGNS[2]: stack.enter_context(
                servers.running(granian("bench.floor_app:create_app"), ctx.env, "/health")
            ),
        }
        registry = running[DESIGNS[0]]
        for plan in plans:
            create_programme(registry.url, ctx.keys["organiser"], plan)
            print(f"setup, {plan.name}: {len(plan.participants):,} participants registered")
            setup = ctx.measure(registry, plan.registrations())
            setup.show("registrations")
            if setup.load.statuses[201] < len(plan.participants):
                print("  (setup incomplete: sign-ups of the missing participants will answer 404)")
        for plan in plans:
            print(f"{plan.name}: {len(plan.pairs):,} sign-ups")
            for design, server in running.items():
                lag = design == DESIGNS[0]  # registry serve runs the projector in-process
                results[design][plan.name] = ctx.measure(server, plan.sign_ups(), lag)
                results[design][plan.name].show(design)
    return results


async def bench(args: argparse.Namespace) -> None:
    plans = [flash_crowd(), broad_crowd(args.participants)]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    async with backends(args.dsn, args.redis_url) as b, scratch_database(b.server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            keys = {role: await create_key(conn, role, "bench") for role in ("organiser", "form")}
            await conn.execute(NAIVE_SCHEMA)
            for plan in plans:
                await create_naive_sessions(conn, plan)
            env = dict(os.environ) | {
                "REGISTRY_DATABASE_URL": url,
                "REGISTRY_REDIS_URL": b.redis_url,
                "REGISTRY_REDIS_PREFIX": prefix,
                "BENCH_NAIVE_DSN": url,
            }
            ctx = Context(args, env, keys, await _store_roots(conn, b.redis_url))
            results = run_all(ctx, plans)
            for plan in plans:
                await report(conn, plan, {d: results[d][plan.name] for d in DESIGNS})
        finally:
            await conn.close()
            await _drop_redis_keys(b.redis_url, prefix)


async def report(conn: asyncpg.Connection, plan: Plan, results: dict[str, Measured]) -> None:
    ours = results[DESIGNS[0]].load
    print(f"\n{plan.name}: {len(plan.pairs):,} sign-ups, {len(plan.sessions)} sessions")
    for design in DESIGNS:
        results[design].show(design)
    for design in DESIGNS[1:]:
        theirs = results[design].load
        ratio = ours.rate / theirs.rate if theirs.rate else float("nan")
        print(f"  registry / {design} = {ratio:.2f}")
    for line in await check_log(conn, plan, ours.answers):
        print(f"  registry: {line}")
    for line in await check_naive(conn, plan, results[DESIGNS[1]].load.answers):
        print(f"  naive: {line}")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--participants", type=int, default=20_000, help="broad crowd size")
    parser.add_argument("--connections", type=int, default=64, help="requests in flight")
    parser.add_argument("--time-limit", type=int, default=120, help="seconds per scenario")
    parser.add_argument("--dsn", help="PostgreSQL server URL (a scratch database is made on it)")
    parser.add_argument("--redis-url", help="Redis URL (keys under a prefix of this run's)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package wrk)")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
