"""CPU seconds spent during a run, by who spent them: the server, PostgreSQL, Redis, the rest.

On 2 shared cores a rate alone cannot say where the time went, nor whether something else on the
machine (another test suite, say) took part of it. CPU per request can: it barely depends on what
else runs, and it splits the cost between the Python server and the two stores. "other" is every
busy CPU second of the machine that is none of these: the client, this script, and anything else.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psutil

GROUPS = ("server", "postgres", "redis", "other")


@dataclass(frozen=True)
class Sample:
    by_group: dict[str, float]
    busy: float  # CPU seconds the whole machine was not idle


def sample(roots: dict[str, int]) -> Sample:
    """`roots`: the root process of each group (server, postgres, redis); each counts with all
    its descendants, so a PostgreSQL server shared with other work is counted only if it is
    the one under test, and then all of it (background writers included)."""
    by_group = {}
    for group in GROUPS[:-1]:
        seconds = 0.0
        for proc in _tree(roots[group]) if group in roots else []:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                seconds += times.user + times.system
        by_group[group] = seconds
    total = psutil.cpu_times()
    busy = sum(total) - total.idle - getattr(total, "iowait", 0.0)
    return Sample(by_group, busy)


def per_request_ms(before: Sample, after: Sample, requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request for each group, between two samples."""
    spent = {g: after.by_group[g] - before.by_group[g] for g in GROUPS[:-1]}
    spent["other"] = max(0.0, (after.busy - before.busy) - sum(spent.values()))
    return {g: 1000 * s / max(requests, 1) for g, s in spent.items()}


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
