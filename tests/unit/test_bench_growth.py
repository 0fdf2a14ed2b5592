"""bench/growth.py's rounds: the order alternates, each pair comes back (small, large) whatever
ran first, and the ratios are large / small."""

from __future__ import annotations

from collections import Counter

from bench.growth import Outcome, pair, ratios, spread
from bench.http_load import LoadResult
from bench.rig import Measured
from bench.rss import RssSampler


def outcome(label: str, answered: int, p99_ms: float) -> Outcome:
    load = LoadResult(answered, answered, 1.0, 1.0, 1.0, p99_ms, p99_ms, Counter(), {})
    return Outcome(label, Measured(load, {}, RssSampler(pid=0)))


async def test_rounds_alternate_which_side_runs_first() -> None:
    ran: list[str] = []

    def side(label: str) -> Outcome:
        ran.append(label)
        return outcome(label, 100, 10.0)

    async def small() -> Outcome:
        return side("small")

    async def large() -> Outcome:
        return side("large")

    got = [await pair(n, small, large) for n in range(3)]
    assert ran == ["small", "large", "large", "small", "small", "large"]
    assert [(s.label, b.label) for s, b in got] == [("small", "large")] * 3


def test_ratios_are_large_over_small() -> None:
    rate, p99 = ratios(outcome("small", 200, 40.0), outcome("large", 150, 60.0))
    assert (rate, p99) == (0.75, 1.5)


def test_spread_lists_each_then_median_and_range() -> None:
    assert spread([0.77, 1.15, 0.68]) == "0.77, 1.15, 0.68   (0.77; 0.68 - 1.15)"
