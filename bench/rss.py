"""Resident memory of a server's processes while a load runs: the most each one reached.

A thread of its own samples (psutil) every `interval_s` the RSS of the server's root process and
of each of its descendants (`registry serve` is granian's main process with one child per
worker), and keeps the maximum per process. Processes that start later (a worker restarted) are
picked up at the next sample. The issue's aim is under 150 MB per API process.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psutil

from bench.background import Background

MB: Final = 1024 * 1024
AIM_MB: Final = 150


@dataclass
class RssSampler(Background):
    pid: int  # the server's root process
    interval_s: float = 0.2
    peaks: dict[int, int] = field(default_factory=dict)  # pid -> the most RSS seen, bytes
    roles: dict[int, str] = field(default_factory=dict)  # pid -> "main" or "worker"

    def work(self, stop: threading.Event) -> None:
        while True:
            self.sample()
            if stop.wait(self.interval_s):
                return

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                self.peaks[proc.pid] = max(rss, self.peaks.get(proc.pid, 0))
                self.roles.setdefault(proc.pid, "main" if proc.pid == self.pid else "worker")

    def largest_mb(self) -> float:
        return max(self.peaks.values(), default=0) / MB

    def summary(self) -> str:
        if not self.peaks:
            return "RSS: no samples"
        parts = [
            f"{self.roles[pid]} {pid} {rss / MB:.0f}"
            for pid, rss in sorted(self.peaks.items(), key=lambda kv: (kv[0] != self.pid, kv[0]))
        ]
        over = [pid for pid, rss in self.peaks.items() if rss / MB >= AIM_MB]
        verdict = f"{len(over)} at or over" if over else "all under"
        return f"max RSS per process, MB: {', '.join(parts)} ({verdict} {AIM_MB} MB)"


def peaks_since_start(root_pid: int) -> str:
    """The most RSS each process of the server's tree ever had (the kernel's VmHWM), start-up
    included, which the sampler above, running only during loads, does not see: a gate built
    from a long log at start was the largest of all (bench/README.md)."""
    try:
        root = psutil.Process(root_pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return "peak RSS since start: no processes"
    parts = []
    for proc in tree:
        with contextlib.suppress(OSError, psutil.Error):
            status = Path(f"/proc/{proc.pid}/status").read_text()
            kb = int(
                next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
            )
            role = "main" if proc.pid == root_pid else "worker"
            parts.append(f"{role} {proc.pid} {kb / 1024:.0f}")
    return f"peak RSS since start (VmHWM), MB: {', '.join(parts)}"
