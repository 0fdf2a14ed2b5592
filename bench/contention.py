"""A few participants, each sent many commands at once: how many wait too long and answer 503.

A decision about a participant makes them busy until its append is in the log; a command about
them meanwhile waits (handlers/gate_sync.py, GateKeeper.decide) or, within a process, takes
its turn (handlers/turns.py). This load is the worst case for that: `--participants` people
(8), `--commands` commands (4,000) chosen at random among them, each a sign-up for, or a
cancellation of, one session of `--seats` seats (4), sent `--connections` at a time (64) with no
lanes (walk.lua: by line number), so each person has several commands in flight at once across
both `registry serve` workers. Real form backends rarely do this; a double-clicked form or a
retrying client does it in small.

Printed: answers by status and problem type (201 seated or waitlisted, 200 cancelled, 404 "holds
no seat", 409 "already signed up", 503 `unavailable`: the participant was busy for longer than
the keeper waits), latency, CPU; then the log checks of signup_http.py (no session over
capacity, every 2xx answer its command's in the log). No baseline: the count of 503s is the
figure, compared between revisions by running this script in each (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random

from bench import rig
from bench.http_load import Request
from bench.signup_checks import check_log
from bench.signup_plans import Plan, Session, Step

SESSION = "a"


def busy_people(participants: int, commands: int, seats: int, seed: int = 8) -> Plan:
    rng = random.Random(seed)
    people = [f"b{i:03d}" for i in range(participants)]
    steps = [Step(rng.choice(people), SESSION, cancel=rng.random() < 0.5) for _ in range(commands)]
    return Plan(
        name="busy people",
        event="busy",
        rooms={"room": seats},
        sessions=[Session(SESSION, "room", seats, "09:00", "10:00")],
        participants=people,
        steps=steps,
    )


def side_by_side(plan: Plan) -> list[Request]:
    """The plan's requests with no lanes: a person's commands go out side by side on any
    connection (walk.lua sends lane-less requests by line number)."""
    return [dataclasses.replace(r, lane=None) for r in plan.sign_ups()]


async def bench(args: argparse.Namespace) -> None:
    plan = busy_people(args.participants, args.commands, args.seats)
    stores = rig.prepared(args.dsn, args.redis_url, [plan], args.connections, args.time_limit)
    async with stores as (ctx, conn):
        with rig.running(ctx, [rig.DESIGNS[0]]) as running:
            registry = running[rig.DESIGNS[0]]
            rig.set_up(ctx, registry, plan)
            requests = side_by_side(plan)
            print(f"{plan.name}: {len(plan.participants)} participants, {len(requests):,} commands")
            measured = ctx.measure(registry, requests)
            measured.show("registry")
        busy = measured.load.statuses[503]
        print(f"  503 (participant busy too long): {busy:,} of {measured.load.answered:,}")
        for line in await check_log(conn, plan, measured.load.answers):
            print(f"  registry: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--participants", type=int, default=8)
    parser.add_argument("--commands", type=int, default=4000)
    parser.add_argument("--seats", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64, help="requests in flight")
    parser.add_argument("--time-limit", type=int, default=60, help="seconds at most")
    rig.store_arguments(parser)
    args = parser.parse_args()
    rig.ready_to_load()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
