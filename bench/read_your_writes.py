"""Read your writes: a sign-up, then the organiser's occupancy read with `?after=` its position.

A form backend or an organiser's page that shows what it has just done reads with `?after=` the
command's position (API.md): the read answers once the read models hold it. How long that takes
is the projector's: it lingers after a commit to gather the next ones (projections/runner.py,
LINGER_S, BUSY_LINGER_S under load), then applies them in one round; the read looks every 10 ms
(projections/reads.py, wait_for).

`--clients` clients (1), each in turn: POST a sign-up (participants of their own, in sessions of
a broad crowd's programme), GET `/occupancy?after=<position>`, then the same read without
`?after=` (the baseline, in the same run: what the read costs when it need not wait).

Printed: p50/p95/p99 of each, the wait for one's own write (the `?after=` read less the plain
one, at the median), that every `?after=` answer's position is at least the sign-up's, and CPU
ms per sign-up (with its two reads) of the server, PostgreSQL and Redis. `--crowd N`: meanwhile
the broad crowd of N participants signs up through wrk at `--connections` (64), as at
registration's opening, and its own figures are printed instead of the CPU. httpx in this
process: sequential per client; its CPU shows under "other".

Run it in two checkouts to compare revisions (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench import cpu, rig
from bench.signup_plans import broad_crowd


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _line(name: str, ms: list[float]) -> str:
    return (
        f"  {name:<22} p50 {_pct(ms, 0.5):6.1f}  p95 {_pct(ms, 0.95):6.1f}"
        f"  p99 {_pct(ms, 0.99):6.1f} ms  ({len(ms):,})"
    )


async def _client(
    url: str,
    keys: dict[str, str],
    event: str,
    pairs: list[tuple[str, str]],
    timings: dict[str, list[float]],
    behind: list[tuple[int, int]],
    deadline: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Each pair in turn: the sign-up, the read `?after=` its position, the plain read; their
    times into `timings`, and (sign-up position, answer position) into `behind` for a read
    `?after=` that answered from before the sign-up. Stops at `deadline` (perf_counter)."""
    form = {"Authorization": f"Bearer {keys['form']}"}
    organiser = {"Authorization": f"Bearer {keys['organiser']}"}
    occupancy = f"/v1/events/{event}/occupancy"
    async with httpx.AsyncClient(base_url=url, timeout=10.0, transport=transport) as client:
        for participant, session in pairs:
            began = time.perf_counter()
            if began > deadline:
                return
            answer = await client.post(
                f"/v1/events/{event}/participants/{participant}/signups",
                json={"session_id": session},
                headers=form,
            )
            wrote = time.perf_counter()
            answer.raise_for_status()
            position = answer.json()["position"]
            after = await client.get(occupancy, params={"after": position}, headers=organiser)
            read = time.perf_counter()
            after.raise_for_status()
            plain = await client.get(occupancy, headers=organiser)
            done = time.perf_counter()
            plain.raise_for_status()
            timings["sign-up"].append(1000 * (wrote - began))
            timings["read ?after="].append(1000 * (read - wrote))
            timings["read, no ?after="].append(1000 * (done - read))
            if after.json()["position"] < position:
                behind.append((position, after.json()["position"]))


async def bench(args: argparse.Namespace) -> None:
    plan = broad_crowd(args.participants, switches=0.0, cancels=0.0, event="ryw", prefix="r")
    pairs = plan.pairs[: args.commands]
    crowd = broad_crowd(args.crowd) if args.crowd else None
    plans = [plan, crowd] if crowd else [plan]
    stores = rig.prepared(args.dsn, args.redis_url, plans, args.connections, args.time_limit)
    async with stores as (ctx, _conn):
        with rig.running(ctx, [rig.DESIGNS[0]]) as running:
            registry = running[rig.DESIGNS[0]]
            for each in plans:
                rig.set_up(ctx, registry, each)
            alongside = None
            if crowd:
                alongside = asyncio.create_task(
                    asyncio.to_thread(ctx.measure, registry, crowd.sign_ups(), lag=True)
                )
                await asyncio.sleep(1.0)  # the crowd under way first
            timings: dict[str, list[float]] = {
                "sign-up": [],
                "read ?after=": [],
                "read, no ?after=": [],
            }
            behind: list[tuple[int, int]] = []
            roots = ctx.roots | {"server": registry.pid}
            before = cpu.sample(roots)
            began = time.perf_counter()
            await asyncio.gather(
                *(
                    _client(
                        registry.url,
                        ctx.keys,
                        plan.event,
                        pairs[i :: args.clients],
                        timings,
                        behind,
                        began + args.time_limit - (2 if crowd else 0),
                    )
                    for i in range(args.clients)
                )
            )
            took = time.perf_counter() - began
            spent = cpu.per_request_ms(before, cpu.sample(roots), len(timings["sign-up"]))
            if crowd and alongside:
                measured = await alongside
                print(f"broad crowd alongside: {crowd.describe()}")
                measured.show("registry")
    done = len(timings["sign-up"])
    if not done:
        print("read your writes: no sign-up within the time limit")
        return
    print(f"read your writes: {args.clients} client(s), {done:,} sign-ups in {took:.1f} s")
    print(f"  ({done / took:,.0f} sign-ups/s, each followed by both reads)")
    for name, ms in timings.items():
        print(_line(name, ms))
    wait = statistics.median(timings["read ?after="]) - statistics.median(
        timings["read, no ?after="]
    )
    print(f"  the wait for one's own write (median ?after= less median plain read): {wait:.1f} ms")
    if not crowd:
        cost = ", ".join(f"{g} {ms:.2f}" for g, ms in spent.items())
        print(f"  CPU ms per sign-up and its two reads: {cost}")
    print(
        "  every ?after= answer at or past its sign-up's position: "
        + ("yes" if not behind else f"NO, {len(behind)} behind, e.g. {behind[:3]}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--participants", type=int, default=500, help="registered first")
    parser.add_argument("--commands", type=int, default=1000, help="sign-ups, at most")
    parser.add_argument("--clients", type=int, default=1, help="clients side by side")
    parser.add_argument("--time-limit", type=int, default=60, help="seconds of load, at most")
    parser.add_argument("--crowd", type=int, default=0, help="broad crowd alongside (0: none)")
    parser.add_argument("--connections", type=int, default=64, help="the crowd's, in flight")
    rig.store_arguments(parser)
    args = parser.parse_args()
    rig.ready_to_load()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
