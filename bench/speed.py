"""How fast the machine's cores are right now: a fixed piece of pure-Python work, timed in CPU
time again and again beside a load.

Why: on the shared 2-core machines we measure on, the same work takes 9 ms in one moment and
14 ms the next, idle or not, on either core (`taskset -c 0|1`, bench/README.md, "2026-12-07"),
and whole runs of the same code drift by 1.5x with it (every CPU-per-request figure, PostgreSQL's
and Redis's as much as the API's, rising together). No hardware counters here (`perf stat -e
instructions`: not supported), so the work cannot be counted in instructions instead of
seconds. What can be done is to time a fixed piece of work through the run: CPU time
(`time.thread_time`), so that waiting for a core is not counted, only how fast the core runs
while it has it. A CPU-bound load's rate scales with 1 / that time, its CPU per request with
it: `ab.py` prints both as measured and scaled by the probe.

The probe takes ~2 % of one core (a few ms of work every `interval_s`), from a thread of the
measuring process, which is otherwise waiting for its runs.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Final

from bench.background import Background

#: The probe's work: reads at random places of a list and a dict larger than the caches, ~10 -
#: 25 ms of CPU on these machines. Memory, not arithmetic: a loop that stays in the first-level
#: cache measured the same 8.2 - 8.6 ms through runs whose rate differed by 1.4x.
SPAN: Final = 2_000_000
READS: Final = 25_000


class Work:
    def __init__(self, seed: int = 1) -> None:
        draw = random.Random(seed)
        self.items = list(range(SPAN))
        self.table = {i: i for i in range(SPAN // 20)}
        self.places = [draw.randrange(SPAN) for _ in range(READS)]
        self.keys = [draw.randrange(SPAN // 20) for _ in range(READS)]

    def __call__(self) -> int:
        items, table = self.items, self.table
        total = 0
        for i in self.places:
            total += items[i]
        for k in self.keys:
            total += table[k]
        return total


class SpeedProbe(Background):
    """`with SpeedProbe() as probe: ...`, then `probe.mean_ms` (or `median_ms`): the CPU time of
    one piece of work while the block ran (0.0 if no sample was taken)."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.samples_ms: list[float] = []

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else 0.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.samples_ms) if self.samples_ms else 0.0

    def work(self, stop: threading.Event) -> None:
        work = Work()
        while not stop.wait(self.interval_s):
            started = time.thread_time()
            work()
            self.samples_ms.append((time.thread_time() - started) * 1000)
