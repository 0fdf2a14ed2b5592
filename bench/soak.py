"""Load held: sign-ups and cancellations at a fixed rate for minutes, latency and memory per minute.

    uv run python -m bench.soak [--rate 200] [--minutes 10] [--participants 4000]

Issue 9 asks for 10 minutes at half the measured maximum rate (bench/signup_http.py's broad
crowd) with flat latency and memory. Starts `registry serve --workers 2` on a scratch database
(as bench/signup_http.py does), creates the broad crowd's programme (4 rounds x 10 sessions) and
registers the participants, then sends requests on a fixed schedule (open loop: a late answer
does not slow the sending, so queueing shows as latency instead of a lower rate): each request
takes a participant that has nothing in flight and either signs them up for a session of a round
where they hold nothing, or cancels what they hold, so the same participants cycle for as long as
the run lasts and sessions fill, queue and empty again.

The client is httpx on one asyncio loop in this process (the server runs in its own processes);
at a few hundred requests/s it needs a fraction of a core, which the "client CPU" column shows.
Printed per minute: requests sent and answered, answers by status, p50/p95/p99, the largest RSS
of each server process, and the client's CPU. Afterwards: no session over capacity in the log,
every 201's position its own fact, and `registry verify` over the whole log (the chain, capacity
at every admission, the read models against their replay).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from bench import rig, servers
from bench.signup_checks import check_log
from bench.signup_plans import ROUNDS, Plan, broad_crowd

IN_FLIGHT_MAX = 512  # beyond this the server is not keeping up: the send is counted as dropped


@dataclass
class Minute:
    sent: int = 0
    dropped: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    rss_mb: dict[int, float] = field(default_factory=dict)

    def line(self, n: int, client_cpu: float) -> str:
        lat = sorted(self.latencies) or [float("nan")]

        def q(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

        rss = ", ".join(f"{mb:.0f}" for mb in self.rss_mb.values())
        codes = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items(), key=str))
        return (
            f"  min {n:2d}: sent {self.sent:6,} answered {len(self.latencies):6,}"
            f" dropped {self.dropped}  p50 {q(0.5):6.1f} p95 {q(0.95):6.1f} p99 {q(0.99):6.1f} ms"
            f"  RSS MB [{rss}]  client CPU {client_cpu:.2f} cores  [{codes}]"
        )


class Walkers:
    """Who may be sent next, and what: one request in flight per participant at most."""

    def __init__(self, plan: Plan, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.idle = list(plan.participants)
        self.held: dict[str, dict[int, str]] = {p: {} for p in plan.participants}
        self.sessions = [[s.id for s in plan.sessions if s.start == st] for st, _ in ROUNDS]

    def next(self) -> tuple[str, str, str, int] | None:
        """(participant, method, session, round), taking the participant off the idle list."""
        if not self.idle:
            return None
        i = self.rng.randrange(len(self.idle))
        self.idle[i], self.idle[-1] = self.idle[-1], self.idle[i]
        p = self.idle.pop()
        r = self.rng.randrange(len(ROUNDS))
        if r in self.held[p]:
            return p, "DELETE", self.held[p][r], r
        return p, "POST", self.rng.choice(self.sessions[r]), r


async def soak(args: argparse.Namespace) -> None:
    plan = broad_crowd(args.participants)
    async with rig.prepared(args.dsn, args.redis_url, [plan], 64, 300) as (ctx, conn):
        with servers.running(servers.registry_serve_command, ctx.env, "/ready") as server:
            rig.set_up(ctx, server, plan)
            seated = await drive(server, ctx.keys["form"], plan, args)
        print(f"\nafter {args.minutes} minutes at {args.rate}/s:")
        for line in await check_log(conn, plan, seated):
            print(f"  {line}")
        verify = await asyncio.to_thread(
            subprocess.run,
            [str(servers.BIN / "registry"), "verify"],
            env=ctx.env,
            capture_output=True,
            text=True,
        )
        print(f"  registry verify: exit {verify.returncode}; {verify.stdout.strip()[-400:]}")


async def drive(
    server: servers.Server, key: str, plan: Plan, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """The fixed-rate load; returns the 201 answers of sign-ups still held at the end."""
    walkers = Walkers(plan)
    workers = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    me = psutil.Process()
    minutes = [Minute() for _ in range(args.minutes)]
    held_answers: dict[tuple[str, int], dict[str, Any]] = {}
    in_flight: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits) as client:

        async def one(minute: Minute, p: str, method: str, session: str, r: int) -> None:
            path = f"/v1/events/{plan.event}/participants/{p}/signups"
            started = time.perf_counter()
            try:
                if method == "POST":
                    answer = await client.post(path, json={"session_id": session}, timeout=30)
                else:
                    answer = await client.delete(f"{path}/{session}", timeout=30)
                minute.statuses[answer.status_code] += 1
                minute.latencies.append(time.perf_counter() - started)
                if method == "POST" and answer.status_code == 201:
                    walkers.held[p][r] = session
                    held_answers[(p, r)] = answer.json()
                elif method == "DELETE" and answer.status_code == 200:
                    walkers.held[p].pop(r, None)
                    held_answers.pop((p, r), None)
            except httpx.HTTPError as error:
                minute.statuses[type(error).__name__] += 1
            finally:
                walkers.idle.append(p)

        start = time.perf_counter()
        cpu0 = me.cpu_times()
        for n in range(args.rate * 60 * args.minutes):
            due = start + n / args.rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            minute = minutes[n // (args.rate * 60)]
            minute.sent += 1
            step = walkers.next() if len(in_flight) < IN_FLIGHT_MAX else None
            if step is None:
                minute.dropped += 1
            else:
                task = asyncio.create_task(one(minute, *step))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if n % args.rate == 0:  # once a second: memory
                for w in workers:
                    rss = w.memory_info().rss / 2**20
                    minute.rss_mb[w.pid] = max(minute.rss_mb.get(w.pid, 0.0), rss)
            if (n + 1) % (args.rate * 60) == 0:
                cpu1 = me.cpu_times()
                used = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 60
                cpu0 = cpu1
                print(minute.line(n // (args.rate * 60) + 1, used), flush=True)
        await asyncio.gather(*in_flight)
    return list(held_answers.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="requests per second")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--participants", type=int, default=4000)
    parser.add_argument("--dsn", help="PostgreSQL server URL (a scratch database is made on it)")
    parser.add_argument("--redis-url", help="Redis URL (keys under a prefix of this run's)")
    asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    main()
