"""What an organiser's change to seats costs, against the size of the event.

    uv run python -m bench.organiser_change [--sizes 100,1000,5000] [--dsn URL]

Organisers' changes run inside the gate's fence (docs/decisions.md): they fold the event's seats
from the log, decide, append and load the gate, and the event's sign-ups wait meanwhile. For each
size N: an event with one session of N seats, full, and N/2 more people waiting; then, timed: a
capacity lowered to N/2 (PATCH: nothing moves), raised to 2N (promotes the N/2 waiting), a merge
of that session into an empty one of 3N seats (moves everyone), and a plain gate rebuild for
comparison (the same fold, without deciding or appending). A scratch database as bench.replay;
the gate is Redis at REGISTRY_REDIS_URL (or 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
import uuid

from redis.asyncio import Redis

from bench.support import scratch_database
from registry import dbroles
from registry.capacity.redis_gate import RedisGate
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain import programme_changes as changes
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import programme, registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.organiser_changes import Decide, change_seats

ORG = "bench"
AMS = dt.timezone(dt.timedelta(hours=1))


def ctx() -> CommandContext:
    return CommandContext(organisation=ORG, actor="bench", command_id=str(uuid.uuid4()))


def at(hour: int) -> dt.datetime:
    return dt.datetime(2024, 1, 11, hour, tzinfo=AMS)


async def one_size(keeper: GateKeeper, n: int) -> dict[str, float]:
    event_id = f"e{n}-{uuid.uuid4().hex[:6]}"
    await programme.create_event(
        keeper, ctx(), cmd.CreateEvent(id=event_id, title="Day", timezone="Europe/Amsterdam",
                                       date=at(0).date()))  # fmt: skip
    for sid, seats, start in (("big", n, 10), ("joint", 3 * n, 10)):
        add = cmd.ScheduleSession(
            id=sid, title=sid, starts_at=at(start), ends_at=at(start + 1), capacity=seats
        )
        await programme.change_programme(
            keeper, ctx(), event_id, lambda p, a=add: rules.decide_schedule(p, a), 201
        )
    await programme.change_programme(
        keeper, ctx(), event_id, lambda p: rules.decide_registration(p, True), 200
    )
    people = n + n // 2
    limit = asyncio.Semaphore(16)

    async def join(i: int) -> None:
        async with limit:
            form = cmd.SubmitRegistration(
                participant=cmd.RegisterParticipant(name=f"P {i}", email=f"p{i}@example.org"),
                session_ids=["big"],
            )
            await registration.submit_registration(keeper, ctx(), event_id, form)

    await asyncio.gather(*(join(i) for i in range(people)))
    timings: dict[str, float] = {}
    lower, raise_ = cmd.PatchSession(capacity=n // 2), cmd.PatchSession(capacity=2 * n)
    merge = cmd.MergeSessions(into="joint")
    steps: tuple[tuple[str, Decide], ...] = (
        ("lower to N/2", lambda p, s: changes.decide_patch(p, s, "big", lower)),
        ("raise to 2N", lambda p, s: changes.decide_patch(p, s, "big", raise_)),
        ("merge", lambda p, s: changes.decide_merge(p, s, "big", merge)),
    )
    for name, decide in steps:
        started = time.perf_counter()
        await change_seats(keeper, ctx(), event_id, decide)
        timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    await keeper.rebuild(ORG, event_id)
    timings["gate rebuild"] = time.perf_counter() - started
    return timings


async def main(sizes: list[int], dsn: str | None) -> None:
    redis = Redis.from_url(os.environ.get("REGISTRY_REDIS_URL", "redis://127.0.0.1:6379/0"))
    async with scratch_database(dsn) as url:
        pool = await dbroles.create_pool(url, min_size=2, max_size=20)  # as the service
        try:
            store = PostgresEventStore(pool, EventCodec(ALL_EVENTS))
            keeper = GateKeeper(store, RedisGate(redis, f"bench-{uuid.uuid4().hex[:6]}"))
            steps = ("lower to N/2", "raise to 2N", "merge", "gate rebuild")
            print(f"{'N':>6} {'people':>7} " + " ".join(f"{k:>14}" for k in steps) + "   (ms)")
            for n in sizes:
                t = await one_size(keeper, n)
                print(
                    f"{n:>6} {n + n // 2:>7} " + " ".join(f"{v * 1000:>14.1f}" for v in t.values())
                )
        finally:
            await pool.close()
            await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--dsn", default=None)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.dsn))
