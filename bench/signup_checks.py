"""After a run: do the answers and the stored state agree, and is no session over capacity?

Nothing here asserts: each check returns lines to print, and a run that breaks an invariant says
so in its output (the benchmark's figures would mean nothing then).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg

from bench.signup_plans import Plan

# Seats held per session, from the log alone: assigned + promoted - released.
HELD_SEATS = """
SELECT data->>'session_id' AS session_id,
       count(*) FILTER (WHERE type IN ('SeatAssigned', 'PromotedFromWaitlist'))
     - count(*) FILTER (WHERE type = 'SeatReleased') AS held,
       count(*) FILTER (WHERE type IN ('SeatAssigned', 'Waitlisted')) AS sign_ups
  FROM events
 WHERE stream_id LIKE $1 AND type IN ('SeatAssigned', 'PromotedFromWaitlist', 'SeatReleased',
                                      'Waitlisted')
 GROUP BY 1
"""
AT_POSITIONS = """
SELECT position, stream_id, type, data->>'session_id' AS session_id
  FROM events WHERE position = ANY($1::bigint[])
"""
FACT_FOR = {"seated": "SeatAssigned", "waitlisted": "Waitlisted"}


async def check_log(conn: asyncpg.Connection, plan: Plan, answers: list[Any]) -> list[str]:
    """The product: capacity per session from the log; every 201 answer's position in the log."""
    streams = f"participant-bench:{plan.event}:%"
    rows = await conn.fetch(HELD_SEATS, streams)
    capacity = plan.capacities()
    over = [
        f"{r['session_id']} holds {r['held']} of {capacity.get(r['session_id'])}"
        for r in rows
        if r["held"] > capacity.get(r["session_id"], 0)
    ]
    held = sum(r["held"] for r in rows)
    facts = sum(r["sign_ups"] for r in rows)
    lines = [
        f"sessions over capacity (log): {len(over)}"
        + (f" {over[:5]}" if over else "")
        + f"; {held:,} seats held, {facts:,} seat/waitlist facts for {len(answers):,} answers 201"
        + (
            " (the rest: requests cut off by the time limit, or failed)"
            if facts > len(answers)
            else ""
        )
    ]
    positions = [a.get("position") for a in answers]
    found = {r["position"]: r for r in await conn.fetch(AT_POSITIONS, positions)}
    wrong: Counter[str] = Counter()
    for answer in answers:
        row = found.get(answer.get("position"))
        if row is None:
            wrong["position not in the log"] += 1
        elif not row["stream_id"].startswith(streams[:-1]):
            wrong["position is another stream's"] += 1
        elif row["session_id"] != answer.get("session_id"):
            wrong["position is another session's fact"] += 1
        elif row["type"] != FACT_FOR.get(answer.get("status", "")):
            wrong[f"answer {answer.get('status')} but log {row['type']}"] += 1
    duplicates = len(positions) - len(set(positions))
    lines.append(
        f"answers 201 whose position is their own fact in the log:"
        f" {len(answers) - sum(wrong.values()):,} of {len(answers):,}"
        + (f"; mismatches {dict(wrong)}" if wrong else "")
        + (f"; {duplicates} positions given twice" if duplicates else "")
    )
    return lines


NAIVE_HELD = """
SELECT s.id, s.capacity,
       (SELECT count(*) FROM bench_seats b WHERE b.event_id = s.event_id AND b.session_id = s.id)
         AS held,
       (SELECT count(*) FROM bench_waitlist w
         WHERE w.event_id = s.event_id AND w.session_id = s.id) AS waiting
  FROM bench_sessions s WHERE s.event_id = $1
"""


async def check_naive(conn: asyncpg.Connection, plan: Plan, answers: list[Any]) -> list[str]:
    """The naive baseline's own tables: capacity per session, one row per 201 answer."""
    rows = await conn.fetch(NAIVE_HELD, plan.event)
    over = [
        f"{r['id']} holds {r['held']} of {r['capacity']}" for r in rows if r["held"] > r["capacity"]
    ]
    stored = sum(r["held"] + r["waiting"] for r in rows)
    return [
        f"sessions over capacity (tables): {len(over)}"
        + (f" {over[:5]}" if over else "")
        + f"; {sum(r['held'] for r in rows):,} seats held, {stored:,} rows for"
        f" {len(answers):,} answers 201"
        + (
            " (the rest: requests cut off by the time limit, or failed)"
            if stored > len(answers)
            else ""
        )
    ]


async def create_naive_sessions(conn: asyncpg.Connection, plan: Plan) -> None:
    await conn.executemany(
        "INSERT INTO bench_sessions (event_id, id, capacity) VALUES ($1, $2, $3)",
        [(plan.event, s.id, s.capacity) for s in plan.sessions],
    )
