"""A/B: the broad crowd on two revisions, runs interleaved, compared run by run.

    uv run python -m bench.ab A B [--rounds 2] [--participants 20000] [--sessions 40]
        [--connections 64] [--time-limit 40] [--keep-trees]

A and B are git revisions (`HEAD`, `HEAD~1`, a commit) or `.`, this checkout as it is, with
its uncommitted changes. Each revision gets a worktree of its own (and `uv sync --frozen` in it);
`.` uses this checkout.

Why this exists: on the 2-core machines we measure on, the same code measured 1,621 and 2,376
sign-ups/s a few minutes apart (bench/README.md, "2026-12-06, afternoon"), far more than most
changes move it. A single run of each side says little; the row-lock ratio that
`signup_http.py` prints helps only as far as the machine slows both designs alike. So the runs
alternate A B B A A B ... (each pair in the opposite order of the one before, so that a
machine getting slower or faster through the session favours neither side), and what is
compared is each round's B / A, printed with every run's figures, never one figure alone.

Every run is `bench.growth`'s one run (registry alone, `registry serve --workers 2`, a scratch
database and Redis prefix of its own, the crowd registered and the read side caught up before
the load), driven by the revision's own harness and migrations in its own worktree (so a change
to a migration is measured as that revision has it), and ends with the revision's own invariant
checks; their lines are kept and shown. Nothing asserts a figure; load is 127.0.0.1 only,
bounded by --time-limit per run. The crowd is the revision's own too: from a04c9f3 on it switches
and cancels (bench/signup_plans.py), before it only signs up, so compare revisions from the same
side of that commit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import REPO
from bench.speed import SpeedProbe

# Run by each revision's interpreter in its worktree: bench.growth's one run, its printed lines
# captured, then one JSON line. Only what growth.one has offered since 063e3a1 is used, so that
# revisions from before this script can be measured too.
DRIVER = r"""
import argparse, asyncio, contextlib, io, json, sys
from bench import growth
args = argparse.Namespace(**json.loads(sys.argv[1]))
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    outcome = asyncio.run(growth.one(args, "ab", args.sessions, 0))
load, cpu = outcome.measured.load, outcome.measured.cpu_ms
print(printed.getvalue(), file=sys.stderr)
print("AB " + json.dumps({
    "rate": load.rate, "p50": load.p50_ms, "p99": load.p99_ms, "answered": load.answered,
    "sent": load.sent, "cpu": cpu,
    "checks": [l.strip() for l in printed.getvalue().splitlines() if "registry: " in l],
}))
"""


@dataclass
class Run:
    tree: str  # "A" or "B"
    rate: float
    p50: float
    p99: float
    cpu: dict[str, float]
    checks: list[str] = field(default_factory=list)
    probe_ms: float = 0.0  # the speed probe's mean through the run (bench/speed.py)

    @property
    def checked(self) -> bool:
        """Both of the harness's invariant lines present and clean (signup_checks.check_log)."""
        capacity = any("sessions over capacity (log): 0;" in c for c in self.checks)
        positions = [c for c in self.checks if "whose position is their own fact" in c]
        return capacity and bool(positions) and all(_all_of(c) for c in positions)


def _all_of(line: str) -> bool:
    """'... fact in the log: 16,000 of 16,000' with nothing after: every 201 is its fact."""
    tail = line.rsplit(": ", 1)[-1]
    parts = tail.split(" of ")
    return len(parts) == 2 and parts[0] == parts[1]


@contextlib.contextmanager
def trees(revisions: list[str], keep: bool) -> Iterator[dict[str, Path]]:
    """A worktree for each revision (`.` is this checkout), each with its environment synced."""
    made: list[Path] = []
    folder = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    try:
        paths = {}
        for rev in revisions:
            if rev == ".":
                paths[rev] = REPO
                continue
            sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
            path = folder / sha[:12]
            if path not in made:
                _git("worktree", "add", "--detach", "--force", str(path), sha)
                made.append(path)
                subprocess.run(["uv", "sync", "--frozen", "--quiet"], cwd=path, check=True)
            paths[rev] = path
        yield paths
    finally:
        if keep:
            print(f"worktrees kept under {folder}")
        else:
            for path in made:
                _git("worktree", "remove", "--force", str(path))
            os.rmdir(folder)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True)
    return done.stdout


def one_run(tree: Path, label: str, args: argparse.Namespace) -> Run:
    settings = {
        "participants": args.participants,
        "sessions": args.sessions,
        "connections": args.connections,
        "time_limit": args.time_limit,
        "reads": 0,
        "seed": 1,
        "setup_limit": 600,
        "catch_up_limit": 900,
        "dsn": args.dsn,
        "redis_url": args.redis_url,
    }
    with SpeedProbe() as probe:
        done = subprocess.run(
            [str(tree / ".venv" / "bin" / "python"), "-c", DRIVER, json.dumps(settings)],
            cwd=tree,
            capture_output=True,
            text=True,
        )
    result = [line for line in done.stdout.splitlines() if line.startswith("AB ")]
    if done.returncode or not result:
        sys.exit(f"run of {label} ({tree}) failed:\n{done.stderr[-3000:]}")
    figures = json.loads(result[-1][3:])
    return Run(
        label,
        figures["rate"],
        figures["p50"],
        figures["p99"],
        figures["cpu"],
        figures["checks"],
        probe.mean_ms,
    )


def show(run: Run, number: int) -> None:
    cpu = run.cpu
    print(
        f"{number:3}  {run.tree}  {run.rate:8,.0f}/s  p50 {run.p50:6.1f}  p99 {run.p99:6.1f} ms"
        f"   CPU ms API {cpu['server']:.2f}, PostgreSQL {cpu['postgres']:.2f},"
        f" Redis {cpu['redis']:.2f}   probe {run.probe_ms:.1f} ms"
        f"   checks {'passed' if run.checked else 'FAILED'}"
    )
    if not run.checked:
        for line in run.checks or ["(no check lines printed)"]:
            print(f"        {line}")


#: What `summary` compares, each a figure of one run.
MEASURES: dict[str, Callable[[Run], float]] = {
    "sign-ups/s": lambda r: r.rate,
    "p50": lambda r: r.p50,
    "p99": lambda r: r.p99,
    "API CPU ms": lambda r: r.cpu["server"],
    "PostgreSQL CPU ms": lambda r: r.cpu["postgres"],
    # Scaled by the speed probe (bench/speed.py): a run on a machine running slower counts as
    # if on the same machine as its pair. A CPU-bound load's rate goes with 1 / probe, its CPU
    # per request with the probe. Only part of the drift is caught (bench/README.md, 2026-12-07).
    "sign-ups/s x probe": lambda r: r.rate * r.probe_ms,
    "API CPU ms / probe": lambda r: r.cpu["server"] / r.probe_ms if r.probe_ms else 0.0,
    "PG CPU ms / probe": lambda r: r.cpu["postgres"] / r.probe_ms if r.probe_ms else 0.0,
}


def ratios(rounds: list[tuple[Run, Run]], of: Callable[[Run], float]) -> list[float]:
    """B / A of each round (rounds whose A measured nothing left out)."""
    return [of(b) / of(a) for a, b in rounds if of(a)]


def summary(rounds: list[tuple[Run, Run]]) -> None:
    """B / A of each round, then their median and range: each ratio is of two runs minutes
    apart, which the machine's drift moves far less than runs further apart."""
    print("\nB / A, round by round (median; lowest - highest):")
    for name, of in MEASURES.items():
        found = ratios(rounds, of)
        if not found:
            continue
        listed = ", ".join(f"{r:.2f}" for r in found)
        print(
            f"  {name:18} {listed}   ({statistics.median(found):.2f};"
            f" {min(found):.2f} - {max(found):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("a", help="revision A (or . for this checkout)")
    parser.add_argument("b", help="revision B (or . for this checkout)")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs, A B then B A ...")
    parser.add_argument("--participants", type=int, default=20_000, help="broad crowd size")
    parser.add_argument("--sessions", type=int, default=40, help="over 4 rounds")
    parser.add_argument("--connections", type=int, default=64, help="requests in flight")
    parser.add_argument("--time-limit", type=int, default=40, help="seconds per load")
    parser.add_argument("--keep-trees", action="store_true", help="leave the worktrees")
    parser.add_argument("--dsn", help="PostgreSQL server URL (a scratch database per run)")
    parser.add_argument("--redis-url", help="Redis URL (keys under a prefix per run)")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("--rounds is at least 1")
    with trees([args.a, args.b], args.keep_trees) as paths:
        print(f"A = {args.a} ({paths[args.a]}), B = {args.b} ({paths[args.b]})")
        rounds: list[tuple[Run, Run]] = []
        number = 0
        for i in range(args.rounds):
            order = ("A", "B") if i % 2 == 0 else ("B", "A")
            runs = {}
            for label in order:
                number += 1
                runs[label] = one_run(paths[args.a if label == "A" else args.b], label, args)
                show(runs[label], number)
            rounds.append((runs["A"], runs["B"]))
        summary(rounds)


if __name__ == "__main__":
    main()
