"""Throughput and p99 against concurrency: the broad crowd's sign-ups at 1 to 256 connections,
for registry and the baselines, plotted.

    uv run python -m bench.sweep [--connections 1,2,4,8,16,32,64,128,256] [--seconds 6]
        [--participants 4000] [--out bench/results]
    uv run python -m bench.sweep --replot bench/results/sweep.json

The stores, servers and client are those of bench/signup_http.py (bench/rig.py). Each point
(a number of connections C) has a broad crowd of its own: event `sweep-C`, its own 40 sessions
and --participants participants (ids `cC-...`), registered through the API before any point is
measured. So no point re-signs a pair another point signed (a repeat would answer 409
already-signed-up from registry, a cheaper path, and an error from the row lock's primary key),
and every point starts from the same empty sessions and walks the same sequence of pairs; a
point that reaches its time limit has covered the first part of it. Each design gets the
point's pairs in the same order, registry first; after registry's turn the script waits (up to
30 s) until its projections and hash chain are at the head, so that their catching up does not
take CPU from the next design's turn.

Each point is bounded by --seconds and by its 4 x participants requests (with C = 1 wrk runs one
thread and one connection, one request at a time). Printed per point: rate, p50/p95/p99, CPU ms
per request and the most RSS of a server process; afterwards the invariants of every point's
event (as bench/signup_http.py checks them). Written to --out: sweep.json and sweep.csv (one row
per design and point) and sweep.png (throughput and p99 against C, log2 axis, a line per
design). Nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import rig
from bench.rig import DESIGNS, Context
from bench.signup_checks import check_bare, check_log, check_naive
from bench.signup_plans import Plan, broad_crowd

POINTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FIELDS = (
    "design",
    "connections",
    "rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "answered",
    "sent",
    "seconds",
    "statuses",
    "socket_errors",
    "cpu_ms_server",
    "cpu_ms_postgres",
    "cpu_ms_redis",
    "cpu_ms_other",
    "max_rss_mb",
)


def plan_for(connections: int, participants: int) -> Plan:
    return broad_crowd(
        participants, event=f"sweep-{connections}", prefix=f"c{connections}-", seed=connections
    )


async def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    plans = {c: plan_for(c, args.participants) for c in args.connections}
    rows: list[dict[str, Any]] = []
    stores = rig.prepared(args.dsn, args.redis_url, plans.values(), 64, args.seconds)
    async with stores as (ctx, conn):
        with rig.running(ctx, args.designs) as running:
            if DESIGNS[0] in running:
                for plan in plans.values():
                    rig.set_up(ctx, running[DESIGNS[0]], plan)
            print(f"\nsweep: {args.seconds} s or {4 * args.participants:,} sign-ups per point")
            for c, plan in plans.items():
                for design, server in running.items():
                    rows.append(await point(ctx, design, server, plan, c))
        print("\ninvariants, per point:")
        for c, plan in plans.items():
            ours = [r for r in rows if r["connections"] == c]
            for row in ours:
                answers = row.pop("_answers")
                if row["design"] == DESIGNS[0]:
                    lines = await check_log(conn, plan, answers)
                elif row["design"] == DESIGNS[1]:
                    lines = await check_naive(conn, plan, answers)
                elif row["design"] == DESIGNS[3]:
                    lines = await check_bare(conn, plan, answers)
                else:
                    continue
                print(f"  C={c:<3} {row['design']}: " + "; ".join(lines))
    return rows


async def point(
    ctx: Context, design: str, server: Any, plan: Plan, connections: int
) -> dict[str, Any]:
    measured = ctx.measure(server, plan.sign_ups(), connections=connections)
    load = measured.load
    rss = measured.rss.largest_mb()
    print(
        f"  C={connections:<3} {design:16} {load.summary()}\n"
        f"  {'':22}CPU ms/request: "
        + ", ".join(f"{g} {ms:.2f}" for g, ms in measured.cpu_ms.items())
        + f"; max RSS {rss:.0f} MB"
    )
    if design == DESIGNS[0]:
        caught = await rig.wait_caught_up(ctx.database_url, 30)
        print(f"  {'':22}(projections and chain at the head {caught:.1f} s after the load)")
    return {
        "design": design,
        "connections": connections,
        "rate": round(load.rate, 1),
        "p50_ms": load.p50_ms,
        "p95_ms": load.p95_ms,
        "p99_ms": load.p99_ms,
        "max_ms": load.max_ms,
        "answered": load.answered,
        "sent": load.sent,
        "seconds": round(load.seconds, 3),
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "socket_errors": {k: v for k, v in load.socket_errors.items() if v},
        **{f"cpu_ms_{g}": round(ms, 3) for g, ms in measured.cpu_ms.items()},
        "max_rss_mb": round(rss, 1),
        "_answers": load.answers,
    }


def write(rows: list[dict[str, Any]], out: Path, note: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps({"note": note, "points": rows}, indent=1) + "\n")
    with (out / "sweep.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        for row in rows:
            flat = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()}
            writer.writerow({k: flat.get(k, "") for k in FIELDS})
    plot(rows, out / "sweep.png", note)
    print(f"\nwrote {out / 'sweep.json'}, {out / 'sweep.csv'}, {out / 'sweep.png'}")


def plot(rows: list[dict[str, Any]], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate_ax, p99_ax) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {DESIGNS[0]: "o-", DESIGNS[1]: "s--", DESIGNS[2]: "^:", DESIGNS[3]: "d-."}
    points = sorted({r["connections"] for r in rows})
    for design in [d for d in DESIGNS if any(r["design"] == d for r in rows)]:
        mine = sorted((r for r in rows if r["design"] == design), key=lambda r: r["connections"])
        xs = [r["connections"] for r in mine]
        style = styles[design]
        rate_ax.plot(xs, [r["rate"] for r in mine], style, label=design)
        p99_ax.plot(xs, [r["p99_ms"] for r in mine], style, label=design)
    for ax, label in ((rate_ax, "sign-ups/s"), (p99_ax, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(points, [str(p) for p in points])
        ax.set_xlabel("concurrent connections (wrk -c)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    rate_ax.set_yscale("log")
    p99_ax.set_yscale("log")
    rate_ax.set_title("throughput")
    p99_ax.set_title("p99 latency")
    fig.suptitle(f"broad-crowd sign-ups against concurrency ({note})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",")],
        default=list(POINTS),
        help="comma-separated points",
    )
    parser.add_argument("--seconds", type=int, default=6, help="time limit per point and design")
    parser.add_argument("--participants", type=int, default=4000, help="per point (x4 sign-ups)")
    parser.add_argument(
        "--designs",
        type=lambda s: [d.strip() for d in s.split(",")],
        default=list(DESIGNS),
        help=f"comma-separated, of: {', '.join(DESIGNS)}",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results"))
    parser.add_argument("--note", default="", help="added to the plot's title")
    parser.add_argument("--replot", type=Path, help="only redraw the PNG from this sweep.json")
    rig.store_arguments(parser)
    args = parser.parse_args()
    if args.replot:
        saved = json.loads(args.replot.read_text())
        plot(saved["points"], args.replot.with_suffix(".png"), args.note or saved["note"])
        return
    if unknown := set(args.designs) - set(DESIGNS):
        sys.exit(f"unknown designs: {unknown}")
    rig.ready_to_load()
    note = args.note or (
        f"{time.strftime('%Y-%m-%d %H:%M')}, {args.seconds} s or"
        f" {4 * args.participants:,} sign-ups per point"
    )
    write(asyncio.run(sweep(args)), args.out, note)


if __name__ == "__main__":
    main()
