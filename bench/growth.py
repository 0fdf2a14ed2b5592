"""Growth: does the broad crowd's sign-up rate hold as the programme and the log grow?

    uv run python -m bench.growth [--pairs sessions,log] [--participants 20000]
        [--sessions 10,10000] [--history 1000000] [--connections 64] [--time-limit 120]
        [--rounds 1]

Two pairs of runs of registry alone (`registry serve --workers 2`, bench/rig.py), each run on a
scratch database and Redis prefix of its own, each the broad crowd of bench/signup_http.py
(--participants x 4 rounds, one sign-up per round each):

* sessions: the crowd spread over 10 sessions, then over 10,000 (2,500 rooms and 2,500 sessions
  a round, with one seat each per participants / 2,500), the programme created through the API
  (PUT .../programme, 1,000 rooms or 2,000 sessions a call: the time it took is printed);
* log: 40 sessions (the standard crowd) on an empty log, then on a log that already holds
  bench/replay_log.py's generated history (--history seat facts, about 1.4 events each with the
  programmes and registrations) of another organisation ("history", 4 events), COPYed into the
  scratch database before the server starts. The server then builds its gates, and its
  in-process projector and hash chainer work through the history: the script waits until every
  projection and the chain are at the head and says how long that took, before any set-up.

Every run waits for the projections and chain again after the set-up, then measures the sign-ups
with the projections' lag, the RSS of each server process, and (with --reads R) occupancy reads
at R/s alongside; then checks the invariants. Printed at the end, per pair: both figures
(sign-ups/s, p50, p99) and large / small (the issue's aim: within 20 %, i.e. 0.8 - 1.2 for the
rate). Nothing asserts a figure. Load is 127.0.0.1 only, each load bounded by --time-limit.

With --rounds N each pair is run N times, the small run first in the first round, the large
first in the second, and so on: on a machine that drifts (bench/README.md, the fifth machine's
sessions pairs went 0.77, 0.68, 1.02, 1.15 with the small run always first) one order alone
favours one side. Each round is printed, then each ratio's median and range over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench import rig
from bench.replay_log import load, make_world, wait_for_fence
from bench.rig import DESIGNS, Measured, Reads
from bench.rss import peaks_since_start
from bench.signup_checks import check_log
from bench.signup_plans import broad_crowd
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec

HISTORY_ORG = "history"


@dataclass
class Outcome:
    label: str
    measured: Measured


async def history(url: str, facts: int, seed: int) -> None:
    """The generated log of another organisation, COPYed in before the server starts."""
    rng = random.Random(seed)
    world = make_world(rng, facts, max(facts // 500, 50), 4, org=HISTORY_ORG)
    began = time.perf_counter()
    total = await load(url, EventCodec(ALL_EVENTS), world, rng, facts)
    participants = sum(len(c.registered) for c in world.conferences)
    print(
        f"  history: {total:,} events ({facts:,} seat facts, {participants:,} participants,"
        f" organisation {HISTORY_ORG!r}) COPYed in {time.perf_counter() - began:.0f} s"
    )
    del world
    gc.collect()
    await wait_for_fence(url, total, 600)


async def one(args: argparse.Namespace, label: str, sessions: int, facts: int) -> Outcome:
    print(f"\n== {label}")
    plan = broad_crowd(args.participants, sessions=sessions)
    stores = rig.prepared(args.dsn, args.redis_url, [], args.connections, args.time_limit)
    async with stores as (ctx, conn):
        if facts:
            await history(ctx.database_url, facts, args.seed)
        limit = args.catch_up_limit
        with rig.running(ctx, [DESIGNS[0]], ready_timeout=limit) as running:
            server = running[DESIGNS[0]]
            caught = await rig.wait_caught_up(ctx.database_url, limit)
            print(
                f"  server ready in {server.ready_s:.1f} s (gates built from the log); projections"
                f" and hash chain at the head {caught:.1f} s later"
            )
            print(f"  {peaks_since_start(server.pid)}")
            rig.set_up(ctx, server, plan, args.setup_limit)
            caught = await rig.wait_caught_up(ctx.database_url, limit)
            print(f"  (projections and chain at the head {caught:.1f} s after the set-up)")
            reads = Reads(f"/v1/events/{plan.event}/occupancy", args.reads) if args.reads else None
            measured = ctx.measure(server, plan.sign_ups(), lag=True, reads=reads)
            print(f"broad crowd, {plan.describe()} over {len(plan.sessions):,} sessions:")
            measured.show("registry")
            print(f"                     {peaks_since_start(server.pid)}")
        for line in await check_log(conn, plan, measured.load.answers):
            print(f"  registry: {line}")
    return Outcome(label, measured)


def compare(name: str, small: Outcome, large: Outcome) -> None:
    a, b = small.measured.load, large.measured.load
    rate, p99 = ratios(small, large)
    print(f"\n{name}: {small.label}  vs  {large.label}")
    print(f"  sign-ups/s {a.rate:8,.0f}  vs {b.rate:8,.0f}   ratio {rate:.2f}")
    print(f"  p50 ms     {a.p50_ms:8.1f}  vs {b.p50_ms:8.1f}   ratio {b.p50_ms / a.p50_ms:.2f}")
    print(f"  p99 ms     {a.p99_ms:8.1f}  vs {b.p99_ms:8.1f}   ratio {p99:.2f}")
    within = [what for what, r in (("rate", rate), ("p99", p99)) if 0.8 <= r <= 1.2]
    print(f"  within 20 %: {', '.join(within) if within else 'neither'} (of rate, p99)")
    for outcome in (small, large):
        print(f"  {outcome.label}: {outcome.measured.rss.summary()}")


def ratios(small: Outcome, large: Outcome) -> tuple[float, float]:
    """Large / small: sign-ups/s and p99."""
    a, b = small.measured.load, large.measured.load
    rate = b.rate / a.rate if a.rate else float("nan")
    p99 = b.p99_ms / a.p99_ms if a.p99_ms else float("nan")
    return rate, p99


def spread(values: list[float]) -> str:
    """Each value, then their median and range."""
    listed = ", ".join(f"{v:.2f}" for v in values)
    return f"{listed}   ({statistics.median(values):.2f}; {min(values):.2f} - {max(values):.2f})"


def small_first(round_number: int) -> bool:
    """Rounds 0, 2, ... run the small side first; 1, 3, ... the large."""
    return round_number % 2 == 0


async def pair(
    round_number: int,
    small: Callable[[], Awaitable[Outcome]],
    large: Callable[[], Awaitable[Outcome]],
) -> tuple[Outcome, Outcome]:
    """Both runs of a pair in this round's order; (small, large) either way."""
    if small_first(round_number):
        small_run = await small()
        return small_run, await large()
    large_run = await large()
    return await small(), large_run


async def main_async(args: argparse.Namespace) -> None:
    few, many = args.sessions
    runs: dict[str, list[tuple[Outcome, Outcome]]] = {"sessions": [], "log": []}
    for n in range(args.rounds):
        if "sessions" in args.pairs:
            runs["sessions"].append(
                await pair(
                    n,
                    lambda: one(args, f"{few:,} sessions, empty log", few, 0),
                    lambda: one(args, f"{many:,} sessions, empty log", many, 0),
                )
            )
        if "log" in args.pairs:
            runs["log"].append(
                await pair(
                    n,
                    lambda: one(args, "40 sessions, empty log", 40, 0),
                    lambda: one(
                        args, f"40 sessions, {args.history:,} seat facts before", 40, args.history
                    ),
                )
            )
    print("\n== growth (the machine's other load moves every figure: compare within a pair)")
    for name, rounds in runs.items():
        for number, (small, large) in enumerate(rounds, 1):
            compare(f"{name}, round {number}" if len(rounds) > 1 else name, small, large)
        if len(rounds) > 1:
            found = [ratios(small, large) for small, large in rounds]
            print(f"\n{name}, large / small by round (median; lowest - highest):")
            print(f"  sign-ups/s  {spread([rate for rate, _ in found])}")
            print(f"  p99         {spread([p99 for _, p99 in found])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--pairs",
        type=lambda s: set(s.split(",")),
        default={"sessions", "log"},
        help="sessions,log",
    )
    parser.add_argument("--participants", type=int, default=20_000, help="broad crowd size")
    parser.add_argument(
        "--sessions",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=(10, 10_000),
        help="the sessions pair, small,large",
    )
    parser.add_argument("--history", type=int, default=1_000_000, help="seat facts in the log")
    parser.add_argument("--connections", type=int, default=64, help="requests in flight")
    parser.add_argument("--time-limit", type=int, default=120, help="seconds per load")
    parser.add_argument("--reads", type=float, default=0, help="occupancy reads/s alongside")
    parser.add_argument("--seed", type=int, default=1, help="of the generated history")
    parser.add_argument("--setup-limit", type=int, default=600, help="seconds to register")
    parser.add_argument(
        "--catch-up-limit", type=float, default=900, help="seconds to wait for the read side"
    )
    rig.store_arguments(parser)
    parser.add_argument(
        "--rounds", type=int, default=1, help="pairs of runs, small first, then large first ..."
    )
    args = parser.parse_args()
    if len(args.sessions) != 2 or args.pairs - {"sessions", "log"} or args.rounds < 1:
        sys.exit("--sessions takes two numbers; --pairs sessions, log or both; --rounds >= 1")
    rig.ready_to_load()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
