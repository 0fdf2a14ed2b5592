"""Send a prepared list of HTTP requests once each, C at a time, with wrk (bench/walk.lua).

wrk, not a Python client: on 2 cores the client shares the CPU with the servers it loads, and
wrk costs a small fraction of what an asyncio client (httpx) costs per request. With httpx the
framework floor would measure httpx rather than granian, and every ratio would be skewed by how
much CPU the client took from the server under test.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WALK_SCRIPT = Path(__file__).with_name("walk.lua")
THREADS = 2  # one per core; the servers under test share the same two
_WRK_LINE = re.compile(r"#wrk (.*)")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str = ""
    #: Sent as `Idempotency-Key` when not empty (API.md: what a form backend that retries sends).
    key: str = ""
    #: Requests of one lane go out in order on one wrk thread (walk.lua); None: by line number.
    lane: int | None = None


@dataclass
class LoadResult:
    sent: int
    answered: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    statuses: Counter[int]
    socket_errors: dict[str, int]
    answers: list[Any] = field(default_factory=list)  # decoded bodies of the 2xx answers
    problems: dict[int, str] = field(default_factory=dict)  # one body per other status
    #: Answers by status and problem type ("422 invalid-command"), for the statuses not 2xx.
    problem_types: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        errors = {k: v for k, v in self.socket_errors.items() if v}
        unanswered = self.sent - self.answered
        return (
            f"{self.rate:>8,.0f}/s  p50 {self.p50_ms:6.1f} ms  p95 {self.p95_ms:6.1f} ms"
            f"  p99 {self.p99_ms:6.1f} ms  ({self.answered:,} in {self.seconds:.1f} s;"
            f" status {statuses}"
            + (
                f" ({', '.join(f'{k}: {n}' for k, n in sorted(self.problem_types.items()))})"
                if self.problem_types
                else ""
            )
            + (f"; socket errors {errors}" if errors else "")
            + (f"; {unanswered:,} unanswered" if unanswered else "")
            + ")"
        )


def run(
    url: str,
    requests: Sequence[Request],
    *,
    connections: int,
    time_limit: int,
    headers: Iterable[str] = (),
) -> LoadResult:
    """Send every request once, `connections` at a time; stop at the end or after `time_limit` s.

    wrk needs a connection per thread at least: fewer than THREADS connections run as many
    threads (one connection means one thread, so that it really is one request at a time)."""
    threads = max(1, min(THREADS, connections))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        listing = Path(folder) / "requests.tsv"
        listing.write_text(
            "".join(
                f"{r.method}\t{r.path}\t{r.body}\t{r.key}\t{'' if r.lane is None else r.lane}\n"
                for r in requests
            )
        )
        out = Path(folder) / "answers"
        header_args = [arg for h in headers for arg in ("-H", h)]
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{max(connections, threads)}",
            f"-d{time_limit}s",
            # Latencies above wrk's timeout are left out of its histogram: never cut one off.
            f"--timeout={time_limit}s",
            *header_args,
            "-s",
            str(WALK_SCRIPT),
            url,
            "--",
            str(listing),
            str(out),
            str(threads),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _interrupt_when_done(proc, [Path(f"{out}.{k}.done") for k in range(threads)], time_limit)
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a load running behind us
            proc.communicate()
            raise
        if proc.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"wrk failed ({proc.returncode}): {stderr or stdout}")
        return _parse(stdout, [Path(f"{out}.{k}") for k in range(threads)], len(requests))


def _interrupt_when_done(proc: subprocess.Popen[str], markers: list[Path], limit: int) -> None:
    """wrk sleeps for all of -d even when every thread has stopped; SIGINT ends that sleep."""
    deadline = time.monotonic() + limit + 10
    while proc.poll() is None and time.monotonic() < deadline:
        if all(m.exists() for m in markers):
            proc.send_signal(signal.SIGINT)
            return
        time.sleep(0.05)


def _parse(stdout: str, outputs: list[Path], sent: int) -> LoadResult:
    found = _WRK_LINE.search(stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout}")
    wrk = {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    statuses: Counter[int] = Counter()
    answers: list[Any] = []
    problems: dict[int, str] = {}
    problem_types: Counter[str] = Counter()
    starts, ends, finished = [], [], 0
    for path in outputs:
        for line in path.read_text().splitlines() if path.exists() else []:
            if line.startswith("#span "):
                first, last = map(int, line.split()[1:])
                finished += 1
                if last:  # 0 0: the thread had no request
                    starts.append(first)
                    ends.append(last)
                continue
            status_text, _, body = line.partition("\t")
            status = int(status_text)
            statuses[status] += 1
            if 200 <= status < 300:
                answers.append(json.loads(body))
            else:
                problems.setdefault(status, body[:300])
                problem_types[f"{status} {_problem_slug(body)}"] += 1
    # A thread cut off by the time limit writes no span: wrk's own run time stands in.
    seconds = (max(ends) - min(starts)) / 1e6 if ends and finished == len(outputs) else 0.0
    answered = sum(statuses.values())
    if not seconds:
        seconds = _wrk_seconds(stdout)

    def ms(name: str) -> float:
        return wrk[name] / 1000

    return LoadResult(
        sent=sent,
        answered=answered,
        seconds=seconds,
        p50_ms=ms("p50"),
        p95_ms=ms("p95"),
        p99_ms=ms("p99"),
        max_ms=ms("max"),
        statuses=statuses,
        socket_errors={k: wrk[k] for k in ("connect", "read", "write", "timeout")},
        answers=answers,
        problems=problems,
        problem_types=problem_types,
    )


def _problem_slug(body: str) -> str:
    """The last part of a problem+json body's `type` ("/problems/session-full": session-full)."""
    try:
        kind = json.loads(body).get("type")
    except (ValueError, AttributeError):
        kind = None
    return str(kind).rsplit("/", 1)[-1] if kind else "?"


def _wrk_seconds(stdout: str) -> float:
    found = re.search(r"requests in ([\d.]+)(ms|s|m),", stdout)
    if found is None:
        return 0.0
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value
