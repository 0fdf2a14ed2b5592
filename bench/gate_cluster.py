"""The capacity gate alone: one Redis against a Redis Cluster of three primaries, same run.

    uv run python -m bench.gate_cluster [--seconds 8] [--events 30] [--tasks 64]

Starts its own servers from the local redis-server (no persistence, 127.0.0.1): one plain
server, then a cluster of three primaries with a replica each (tests/support/redis_cluster.py).
On each, `--tasks` asyncio tasks in this one process make decisions for `--seconds`: a sign-up
(decide.lua) and its confirm (settle.lua) per participant, round-robin over `--events` events of
one 1,000-seat session each (so the keys spread over the cluster's slots by their hash tags).
Printed: decisions/s (a sign-up and its confirm, the write path's two gate calls) and CPU ms per
decision of the Redis primaries, of the replicas (applying the replication stream) and of this
client, and the same for one event only
(one hash tag: one shard of the cluster does all the work). Nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from registry.capacity.connect import open_client
from registry.capacity.redis_gate import RedisGate
from registry.domain.seating import Seating, SessionSeats
from tests.support.redis_cluster import SERVER, free_ports, redis_cluster

SEATS = 1000


@dataclass(frozen=True)
class Figures:
    decisions: int
    seconds: float
    redis_cpu_s: float
    replica_cpu_s: float
    client_cpu_s: float

    def line(self, label: str) -> str:
        per = 1000 / max(self.decisions, 1)
        return (
            f"{label:<34} {self.decisions / self.seconds:>7,.0f} decisions/s   CPU ms/decision:"
            f" primaries {self.redis_cpu_s * per:.3f}, replicas {self.replica_cpu_s * per:.3f},"
            f" client {self.client_cpu_s * per:.3f}"
        )


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def _programme() -> Seating:
    start = datetime(2024, 1, 11, 10, tzinfo=UTC)
    end = datetime(2024, 1, 11, 11, tzinfo=UTC)
    return Seating({"s": SessionSeats("s", start, end, SEATS)})


async def measure(
    url: str, pids: list[int], replicas: list[int], events: int, tasks: int, seconds: float
) -> Figures:
    client = open_client(url, tasks)
    gate = RedisGate(client, f"bench-{time.time_ns()}", max_in_flight=tasks)
    keys = [f"bench:e{n}" for n in range(events)]
    for key in keys:
        await gate.load(key, _programme(), "open", 1)
    counter = itertools.count()
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            n = next(counter)
            key, command = keys[n % events], f"c{n}"
            await gate.sign_up(key, command, f"p{n}", "s")
            await gate.confirm(key, command)
            done += 1

    await asyncio.gather(*(worker() for _ in range(tasks)))  # warm: scripts loaded, connected
    stop = time.monotonic() + seconds
    done = 0
    me = [psutil.Process().pid]
    before = _cpu(pids), _cpu(replicas), _cpu(me)
    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.monotonic() - started
    after = _cpu(pids), _cpu(replicas), _cpu(me)
    figures = Figures(done, elapsed, *(a - b for a, b in zip(after, before, strict=True)))
    await client.aclose()
    return figures


@contextmanager
def one_server() -> Iterator[tuple[str, list[int]]]:
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder:
        (port,) = free_ports(1)
        command = [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
        command += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        process = subprocess.Popen(
            command, cwd=Path(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.3)
            yield f"redis://127.0.0.1:{port}/0", [process.pid]
        finally:
            process.kill()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--tasks", type=int, default=64)
    args = parser.parse_args()
    print(f"{args.tasks} tasks, {args.seconds:.0f} s per line, sign-up + confirm per decision")
    with one_server() as (url, pids):
        for events in (args.events, 1):
            figures = asyncio.run(measure(url, pids, [], events, args.tasks, args.seconds))
            print(figures.line(f"one redis-server, {events} event(s)"), flush=True)
    with redis_cluster() as cluster:
        roles = {p: cluster.info(p, "replication")["role"] for p in cluster.nodes}
        primaries = [n.process.pid for p, n in cluster.nodes.items() if roles[p] == "master"]
        replicas = [n.process.pid for p, n in cluster.nodes.items() if roles[p] != "master"]
        for events in (args.events, 1):
            figures = asyncio.run(
                measure(cluster.url, primaries, replicas, events, args.tasks, args.seconds)
            )
            print(figures.line(f"cluster 3 primaries, {events} event(s)"), flush=True)


if __name__ == "__main__":
    main()
