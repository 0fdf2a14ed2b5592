"""Sign-ups/s over HTTP through the real service against a row lock, a floor and a bare pipeline.

    uv run python -m bench.signup_http [--participants 20000] [--connections 64] [--time-limit 120]
        [--sessions 40] [--reads 1000]

Starts `registry serve --workers 2 --no-migrate` on a free 127.0.0.1 port against a scratch
database (migrated) and Redis under a prefix of its own, with an organiser and a form key of org
"bench". Through the API it creates two events with their rooms and sessions, opens registration
and registers every participant (timed on its own, not part of the sign-up figures). Then:

* flash crowd: 2,000 participants sign up for one 100-seat session;
* broad crowd: N participants, 4 rounds x 10 parallel sessions, one sign-up per round each
  (--sessions spreads them over that many sessions instead, a quarter per round), with 10 % of
  the sign-ups later switched to another session of their round and 5 % cancelled, mixed in
  (--switches, --cancels; bench/signup_plans.py).

With --reads R, an open-loop client (bench/open_loop.py) reads the broad crowd's occupancy
(`GET /v1/events/broad/occupancy`, organiser key) at R per second while registry's broad crowd
runs (not the baselines': they have no such route), and its figures are printed beside the
sign-ups'. The RSS of every server process is sampled during every load (bench/rss.py).

The same requests (sign-ups, switches, cancellations), in the same order, go to three baselines
under the same granian with the same 2 workers: bench/naive_app.py (one transaction per command
under a `SELECT ... FOR UPDATE` row lock on the session, its own tables in the scratch database),
bench/floor_app.py (the same routes and bodies, a fixed answer, no I/O) and bench/bare_app.py
(registry's design stripped to its spine: one gathered Redis script decides, one gathered INSERT
logs the facts, the answer after the commit; none of the product's guarantees). The client is
wrk with bench/walk.lua (bench/http_load.py says why not an asyncio client), C connections with
HTTP/1.1 keep-alive; each request is sent once, and a scenario stops at its last answer or its
time limit.

Printed per scenario and server: sign-ups/s, p50/p95/p99, answers by status, CPU ms per
request split between the server, PostgreSQL, Redis and everything else (bench/cpu.py: on 2
shared cores the rate moves with whatever else runs, CPU per request much less), the product's
figure as a ratio to each baseline, the most RSS per server process, and the invariants read
back afterwards: no session over capacity (from the log: SeatAssigned + PromotedFromWaitlist -
SeatReleased per session) and every 201 answer's position naming its own fact in the log; the
same two for the bare pipeline's log, and capacity for the row lock's tables.
Database and Redis come from --dsn / --redis-url, else REGISTRY_DATABASE_URL /
REGISTRY_REDIS_URL, else embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from bench import rig
from bench.rig import DESIGNS, Context, Measured, Reads
from bench.signup_checks import check_bare, check_log, check_naive
from bench.signup_plans import CANCELS, SWITCHES, Plan, broad_crowd, flash_crowd


def run_all(
    ctx: Context, plans: list[Plan], reads: float, keyed: bool = False
) -> dict[str, dict[str, Measured]]:
    """Each crowd goes to the four servers in turn: a change in the machine's other load then
    hits them alike. Reads (if any) go alongside registry's broad crowd."""
    results: dict[str, dict[str, Measured]] = {d: {} for d in DESIGNS}
    with rig.running(ctx) as running:
        registry = running[DESIGNS[0]]
        for plan in plans:
            rig.set_up(ctx, registry, plan)
        for plan in plans:
            print(f"{plan.name}: {plan.describe()}")
            for design, server in running.items():
                ours = design == DESIGNS[0]  # registry serve runs the projector in-process
                alongside = None
                if ours and reads and plan.event == "broad":
                    alongside = Reads(f"/v1/events/{plan.event}/occupancy", reads)
                requests = plan.sign_ups(keyed)
                measured = ctx.measure(server, requests, lag=ours, reads=alongside)
                results[design][plan.name] = measured
                measured.show(design)
    return results


async def bench(args: argparse.Namespace) -> None:
    broad = broad_crowd(
        args.participants, sessions=args.sessions, switches=args.switches, cancels=args.cancels
    )
    plans = [flash_crowd(), broad]
    stores = rig.prepared(args.dsn, args.redis_url, plans, args.connections, args.time_limit)
    async with stores as (ctx, conn):
        results = run_all(ctx, plans, args.reads, args.idempotency_keys)
        for plan in plans:
            await report(conn, plan, {d: results[d][plan.name] for d in DESIGNS})


async def report(conn: asyncpg.Connection, plan: Plan, results: dict[str, Measured]) -> None:
    ours = results[DESIGNS[0]].load
    print(f"\n{plan.name}: {plan.describe()}, {len(plan.sessions)} sessions")
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
    for line in await check_bare(conn, plan, results[DESIGNS[3]].load.answers):
        print(f"  bare: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--participants", type=int, default=20_000, help="broad crowd size")
    parser.add_argument("--sessions", type=int, default=40, help="broad crowd's, over 4 rounds")
    parser.add_argument(
        "--switches", type=float, default=SWITCHES, help="share of sign-ups later switched"
    )
    parser.add_argument(
        "--cancels", type=float, default=CANCELS, help="share of sign-ups later cancelled"
    )
    parser.add_argument("--connections", type=int, default=64, help="requests in flight")
    parser.add_argument("--time-limit", type=int, default=120, help="seconds per scenario")
    parser.add_argument("--reads", type=float, default=0, help="occupancy reads/s alongside")
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="each sign-up with an Idempotency-Key of its own (the baselines ignore it)",
    )
    rig.store_arguments(parser)
    args = parser.parse_args()
    rig.ready_to_load()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
