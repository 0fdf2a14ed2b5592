"""After a run: do the answers and the stored state agree, and is no session over capacity?

Nothing here asserts: each check returns lines to print, and a run that breaks an invariant says
so in its output (the benchmark's figures would mean nothing then).
"""

from __future__ import annotations

import json
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
# The command each 2xx answer's position names (API.md: the position is the last event the
# command wrote), with the answer it stored for replays and the events it wrote.
COMMANDS_AT = """
SELECT c.position, c.answer, e.stream_id, e.type, e.data->>'session_id' AS session_id,
       e.data->>'participant_id' AS participant_id
  FROM commands c
  JOIN events e ON e.position = ANY(c.positions)
 WHERE c.position = ANY($1::bigint[])
 ORDER BY c.position, e.position
"""
FACT_FOR = {"seated": "SeatAssigned", "waitlisted": "Waitlisted"}
RELEASES = ("SeatReleased", "WaitlistLeft")


def over_capacity(rows: list[asyncpg.Record], plan: Plan) -> list[str]:
    """The sessions among `rows` (session_id, held) holding more seats than the plan gives."""
    capacity = plan.capacities()
    return [
        f"{r['session_id']} holds {r['held']} of {capacity.get(r['session_id'])}"
        for r in rows
        if r["held"] > capacity.get(r["session_id"], 0)
    ]


async def check_log(conn: asyncpg.Connection, plan: Plan, answers: list[Any]) -> list[str]:
    """The product: capacity per session from the log; every 2xx answer is its command's in the
    log (the command at its position stored that answer and wrote what it says)."""
    streams = f"participant-bench:{plan.event}:%"
    rows = await conn.fetch(HELD_SEATS, streams)
    over = over_capacity(rows, plan)
    held = sum(r["held"] for r in rows)
    facts = sum(r["sign_ups"] for r in rows)
    created = sum("status" in a for a in answers)
    lines = [
        f"sessions over capacity (log): {len(over)}"
        + (f" {over[:5]}" if over else "")
        + f"; {held:,} seats held, {facts:,} seat/waitlist facts for {created:,} answers 201"
        + (" (the rest: requests cut off by the time limit, or failed)" if facts > created else "")
    ]
    positions = [a.get("position") for a in answers]
    written: dict[int, list[asyncpg.Record]] = {}
    for row in await conn.fetch(COMMANDS_AT, positions):
        written.setdefault(row["position"], []).append(row)
    wrong: Counter[str] = Counter()
    for answer in answers:
        problem = _mismatch(answer, written.get(answer.get("position"), []), streams[:-1])
        if problem:
            wrong[problem] += 1
    duplicates = len(positions) - len(set(positions))
    lines.append(
        f"answers 2xx whose position is their own fact in the log (their command's, which"
        f" stored that answer and wrote what it says): {len(answers) - sum(wrong.values()):,}"
        f" of {len(answers):,}"
        + (f"; mismatches {dict(wrong)}" if wrong else "")
        + (f"; {duplicates} positions given twice" if duplicates else "")
    )
    return lines


def _mismatch(answer: dict[str, Any], events: list[asyncpg.Record], streams: str) -> str:
    """Why `answer` is not what its command wrote ("" when it is)."""
    if not events:
        return "no command at the position"
    if events[0]["answer"] is None:
        return "the command stored no answer"
    stored = json.loads(events[0]["answer"]).get("body")
    if stored != {k: v for k, v in answer.items() if k != "position"}:
        return "the command stored another answer"
    if not all(e["stream_id"].startswith(streams) for e in events):
        return "the command wrote to another event's streams"
    if "status" in answer:  # a sign-up or switch: its seat or wait, for its session
        fact = FACT_FOR.get(answer["status"])
        if not any(e["type"] == fact and e["session_id"] == answer["session_id"] for e in events):
            return f"answer {answer['status']} without its {fact} in the log"
        return ""
    if "promoted" in answer:  # a cancellation: a release, and exactly the promotions answered
        if not any(e["type"] in RELEASES for e in events):
            return "cancellation answered without a release in the log"
        promoted = [e["participant_id"] for e in events if e["type"] == "PromotedFromWaitlist"]
        if promoted != answer["promoted"]:
            return "promotions answered are not the ones in the log"
        return ""
    return "an answer of unknown shape"


NAIVE_HELD = """
SELECT s.id, s.capacity,
       (SELECT count(*) FROM bench_seats b WHERE b.event_id = s.event_id AND b.session_id = s.id)
         AS held,
       (SELECT count(*) FROM bench_waitlist w
         WHERE w.event_id = s.event_id AND w.session_id = s.id) AS waiting
  FROM bench_sessions s WHERE s.event_id = $1
"""


async def check_naive(conn: asyncpg.Connection, plan: Plan, answers: list[Any]) -> list[str]:
    """The naive baseline's own tables: capacity per session, no more rows than answers 201."""
    rows = await conn.fetch(NAIVE_HELD, plan.event)
    over = [
        f"{r['id']} holds {r['held']} of {r['capacity']}" for r in rows if r["held"] > r["capacity"]
    ]
    stored = sum(r["held"] + r["waiting"] for r in rows)
    created = sum("status" in a for a in answers)
    cancelled = len(answers) - created
    return [
        f"sessions over capacity (tables): {len(over)}"
        + (f" {over[:5]}" if over else "")
        + f"; {sum(r['held'] for r in rows):,} seats held, {stored:,} rows (seats and waits)"
        f" after {created:,} answers 201"
        + (f" and {cancelled:,} cancellations" if cancelled else "")
        + (" (more rows than answers: requests cut off, or failed)" if stored > created else "")
    ]


async def create_naive_sessions(conn: asyncpg.Connection, plan: Plan) -> None:
    await conn.executemany(
        "INSERT INTO bench_sessions (event_id, id, capacity) VALUES ($1, $2, $3)",
        [(plan.event, s.id, s.capacity) for s in plan.sessions],
    )


# The bare pipeline's log (bench/bare_app.py): seats held per session, and each answer's fact.
BARE_HELD = """
SELECT data->>'session_id' AS session_id,
       count(*) FILTER (WHERE type IN ('SeatAssigned', 'PromotedFromWaitlist'))
     - count(*) FILTER (WHERE type = 'SeatReleased') AS held
  FROM bench_bare_log WHERE event_id = $1
 GROUP BY 1
"""
BARE_AT = "SELECT position, type, data->>'session_id' AS session_id FROM bench_bare_log"
BARE_AT_POSITIONS = BARE_AT + " WHERE position = ANY($1::bigint[])"


async def check_bare(conn: asyncpg.Connection, plan: Plan, answers: list[Any]) -> list[str]:
    """The bare pipeline's log: capacity per session; every 201 that wrote a fact names, at its
    position, a seat or wait in its session (bench/bare_app.py answers after the commit)."""
    rows = await conn.fetch(BARE_HELD, plan.event)
    over = over_capacity(rows, plan)
    created = [a for a in answers if "status" in a and a.get("position") is not None]
    # The position answered is the command's last fact, its seat or wait (bare_app.py writes a
    # switch's seat after the seat it gave back).
    at = {
        r["position"]: r
        for r in await conn.fetch(BARE_AT_POSITIONS, [a["position"] for a in created])
    }
    wrong = [
        a
        for a in created
        if (fact := at.get(a["position"])) is None
        or fact["type"] != FACT_FOR.get(a["status"])
        or fact["session_id"] != a["session_id"]
    ]
    return [
        f"sessions over capacity (log): {len(over)}"
        + (f" {over[:5]}" if over else "")
        + f"; {sum(r['held'] for r in rows):,} seats held; answers 201 whose position holds"
        f" their seat or wait in their session: {len(created) - len(wrong):,} of {len(created):,}"
        + (f"; e.g. {wrong[0]}" if wrong else "")
    ]
