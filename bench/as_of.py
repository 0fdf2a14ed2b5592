"""`?as_of=` over a long log: how long a replay of one event to a position takes, without
snapshots and with them (registry.audit.replay).

    uv run python -m bench.as_of [--events 100000] [--sessions 200] [--every 1000] [--dsn URL]

The log is bench/replay_log.py's (COPYed into a scratch database as bench/replay.py does), with
one event (conference) only, so that all of its --events seat facts belong to the event replayed.
Measured at a few positions (a quarter, half, nine tenths and all of the log), in this order:
- no snapshot: Replay(every=0), the fold from the event's first fact (median of --repeat);
- first: Replay(every=K) at that position with no snapshot at or before it yet: the same fold,
  plus counting the facts ahead and encoding and storing the one snapshot it takes (once);
- with: the same position again, the nearest snapshot decoded and fewer than K facts folded
  (median of --repeat); `+K/2`: a position K/2 facts later, from the same snapshot;
- answer: the occupancy answer built from the state (replay_answers), for scale;
- then a time resolved to its position (AT_TIME, a backward scan from the head), and the rows.
The baseline is the no-snapshot fold: the figure that grows with the log. Positions are taken
from the highest down, so that each "first" finds no snapshot at or before it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.replay_log import load, make_world, wait_for_fence
from bench.support import scratch_database
from registry import dbroles
from registry.audit import replay_answers
from registry.audit.replay import Replay, position_at
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec

ORG = "bench"
EVENT = "conf-1"


async def timed(runs: int, work: Callable[[], Awaitable[Any]]) -> float:
    """The median of `runs` runs, in milliseconds."""
    spent = []
    for _ in range(runs):
        began = time.perf_counter()
        await work()
        spent.append((time.perf_counter() - began) * 1000)
    return statistics.median(spent)


async def measure(args: argparse.Namespace, url: str) -> None:
    rng = random.Random(args.seed)
    codec = EventCodec(ALL_EVENTS)
    world = make_world(rng, args.events, args.sessions, 1)
    total = await load(url, codec, world, rng, args.events)
    del world
    await wait_for_fence(url, total, 600)
    pool = await dbroles.create_pool(url, min_size=1, max_size=4)  # as the service
    try:
        positions = [total, total * 9 // 10, total // 2, total // 4]
        plain = Replay(pool, codec, every=0)
        print(f"\nas_of over {total:,} events of one event, snapshots every {args.every:,} facts")
        print(
            f"  {'position':>9} {'no snapshot':>12} {'first':>7} {'with':>7} {'+K/2':>7}"
            f" {'answer':>7}   (ms)"
        )
        for position in positions:
            without = await timed(args.repeat, lambda p=position: plain.state(ORG, EVENT, p))
            snapped = Replay(pool, codec, every=args.every)
            first = await timed(1, lambda p=position, r=snapped: r.state(ORG, EVENT, p))
            assert snapped.written, "the first fold takes a snapshot"
            with_ = await timed(args.repeat, lambda p=position, r=snapped: r.state(ORG, EVENT, p))
            later = min(total, snapped.written[-1][2] + args.every // 2 * total // args.events)
            half = await timed(args.repeat, lambda p=later, r=snapped: r.state(ORG, EVENT, p))
            state = await snapped.state(ORG, EVENT, position)
            answer = await timed(args.repeat, lambda s=state: _occupancy(s))
            print(
                f"  {position:>9,} {without:>12.0f} {first:>7.0f} {with_:>7.1f} {half:>7.1f}"
                f" {answer:>7.1f}"
            )
        stored = await pool.fetchval(
            "SELECT count(*)::int || ' rows, ' || pg_size_pretty(sum(length(state))) "
            "FROM replay_snapshots"
        )
        print(f"  snapshots stored: {stored}")
        head_at = await pool.fetchval("SELECT recorded_at FROM events WHERE position = $1", total)
        for back in (total // 100, total // 2):
            moment: dt.datetime = await pool.fetchval(
                "SELECT recorded_at FROM events WHERE position = $1", total - back
            )
            spent = await timed(args.repeat, lambda m=moment: position_at(pool, m, total))
            print(f"  a time {head_at - moment} before the head -> its position: {spent:.1f} ms")
    finally:
        await pool.close()


async def _occupancy(state: Any) -> None:
    replay_answers.occupancy(state, state.position)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server URL (a scratch database is created on it)")
    parser.add_argument("--events", type=int, default=100_000, help="seat facts in the log")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--every", type=int, default=1000, help="snapshot interval, in facts")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        async with scratch_database(args.dsn) as url:
            await measure(args, url)


if __name__ == "__main__":
    asyncio.run(main())
