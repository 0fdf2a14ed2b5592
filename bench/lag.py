"""Projection lag while a load runs: how old the oldest event not yet in every read model is.

A thread of its own (the load generator blocks the caller) samples every `interval_s`: the lowest
live checkpoint among the projections, and the age of the first event after it (0 when every
projection has caught up). Uncommitted events are invisible to the query, so what it measures is
the delay from commit (recorded_at, to the millisecond) to the read models.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
from dataclasses import dataclass, field
from typing import Final

import asyncpg

from bench.background import Background

LAG: Final = """
SELECT coalesce(extract(epoch FROM clock_timestamp() - (
           SELECT e.recorded_at FROM events e
            WHERE e.position > (SELECT coalesce(min(c.position), 0)
                                  FROM projection_state s
                                  JOIN projection_checkpoints c
                                    ON c.name = s.name AND c.generation = s.live_generation)
            ORDER BY e.position LIMIT 1)), 0)::float8
"""


@dataclass
class LagSampler(Background):
    dsn: str
    interval_s: float = 0.02
    samples: list[float] = field(default_factory=list)

    def work(self, stop: threading.Event) -> None:
        asyncio.run(self._run(stop))

    async def _run(self, stop: threading.Event) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not stop.is_set():
                self.samples.append(await conn.fetchval(LAG))
                await asyncio.sleep(self.interval_s)
        finally:
            await conn.close()

    def summary(self) -> str:
        if not self.samples:
            return "projection lag: no samples"
        ms = sorted(s * 1000 for s in self.samples)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (
            f"projection lag (commit to every read model): p50 {statistics.median(ms):.0f} ms, "
            f"p99 {p99:.0f} ms, max {ms[-1]:.0f} ms over {len(ms):,} samples"
        )
