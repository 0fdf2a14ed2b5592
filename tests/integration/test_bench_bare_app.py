"""bench/bare_app.py, the bare pipeline baseline: its decisions, its log and the check of both.

A baseline that seated too many, or answered positions that are not its facts, would make every
ratio printed against it meaningless; these run it against the real servers.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest
import redis.asyncio as aioredis

from bench.bare_app import SCHEMA, Bare, Log
from bench.signup_checks import check_bare
from bench.signup_plans import flash_crowd

EVENT = "flash"  # flash_crowd()'s event: check_bare reads the plan's event and capacities


@pytest.fixture
async def bare(fresh_pool: asyncpg.Pool, client: aioredis.Redis, backend: tuple[str, str]) -> Bare:
    _, prefix = backend
    await fresh_pool.execute(SCHEMA)
    return Bare(client, prefix, Log(fresh_pool))


async def seats(bare: Bare, session: str, capacity: int) -> None:
    await bare.redis.hset(f"{bare.prefix}:{EVENT}:capacity", session, capacity)


async def log(pool: asyncpg.Pool) -> list[tuple[int, str, str, str]]:
    rows = await pool.fetch(
        "SELECT position, type, data->>'session_id' AS s, data->>'participant_id' AS p"
        " FROM bench_bare_log ORDER BY position"
    )
    return [(r["position"], r["type"], r["s"], r["p"]) for r in rows]


async def test_seats_then_a_waitlist_and_a_cancellation_promotes_its_head(
    bare: Bare, fresh_pool: asyncpg.Pool
) -> None:
    await seats(bare, "s1", 2)
    answers = [await bare.decide("sign_up", EVENT, p, "s1") for p in "abcd"]
    assert [(d.st, d.w) for d, _ in answers] == [
        ("seated", None),
        ("seated", None),
        ("waitlisted", 1),
        ("waitlisted", 2),
    ]
    left, position = await bare.decide("leave", EVENT, "a", "s1")
    assert [(f.type, f.participant_id) for f in left.f] == [
        ("SeatReleased", "a"),
        ("PromotedFromWaitlist", "c"),
    ]
    facts = await log(fresh_pool)
    assert [(t, p) for _, t, _, p in facts] == [
        ("SeatAssigned", "a"),
        ("SeatAssigned", "b"),
        ("Waitlisted", "c"),
        ("Waitlisted", "d"),
        ("SeatReleased", "a"),
        ("PromotedFromWaitlist", "c"),
    ]
    # Each answer's position is its command's last fact.
    assert [p for _, p in answers] == [f[0] for f in facts[:4]]
    assert position == facts[-1][0]


async def test_a_switch_gives_its_seat_back_first_and_a_refusal_writes_nothing(
    bare: Bare, fresh_pool: asyncpg.Pool
) -> None:
    await seats(bare, "s1", 1)
    await seats(bare, "s2", 1)
    await bare.decide("sign_up", EVENT, "a", "s1")
    await bare.decide("sign_up", EVENT, "b", "s1")  # waits for s1
    switched, position = await bare.decide("sign_up", EVENT, "a", "s2", "s1")
    assert switched.st == "seated"
    facts = await log(fresh_pool)
    assert [(t, s, p) for _, t, s, p in facts[2:]] == [
        ("SeatReleased", "s1", "a"),
        ("PromotedFromWaitlist", "s1", "b"),
        ("SeatAssigned", "s2", "a"),
    ]
    assert position == facts[-1][0]
    refused, nothing = await bare.decide("sign_up", EVENT, "c", "s2", "s1")
    assert (refused.e, nothing) == ("no seat to replace", None)
    unknown, _ = await bare.decide("leave", EVENT, "c", "s9")
    assert unknown.e == "unknown session"
    assert len(await log(fresh_pool)) == len(facts)


async def test_a_crowd_at_once_fills_the_seats_exactly_and_check_bare_agrees(
    bare: Bare, fresh_pool: asyncpg.Pool
) -> None:
    plan = flash_crowd(participants=60, seats=10)
    (session,) = plan.sessions
    await seats(bare, session.id, session.capacity)
    decided = await asyncio.gather(
        *(bare.decide("sign_up", EVENT, p, session.id) for p in plan.participants)
    )
    assert Counter(d.st for d, _ in decided) == {"seated": 10, "waitlisted": 50}
    assert sorted(d.w for d, _ in decided if d.w is not None) == list(range(1, 51))
    positions = [p for _, p in decided]
    assert len(set(positions)) == 60  # gathered into few INSERTs, still one fact each
    answers = [{"session_id": session.id, "status": d.st, "position": p} for d, p in decided]
    async with fresh_pool.acquire() as conn:
        (line,) = await check_bare(conn, plan, answers)
    assert line.startswith("sessions over capacity (log): 0; 10 seats held")
    assert line.endswith("in their session: 60 of 60")

    # The check can fail: a seat too many in the log, an answer that is not its fact.
    await fresh_pool.execute(
        "INSERT INTO bench_bare_log (event_id, type, data) VALUES ($1, 'SeatAssigned', $2)",
        EVENT,
        f'{{"session_id": "{session.id}", "participant_id": "x"}}',
    )
    answers[0] = answers[0] | {
        "status": "waitlisted" if answers[0]["status"] == "seated" else "seated"
    }
    async with fresh_pool.acquire() as conn:
        (line,) = await check_bare(conn, plan, answers)
    assert line.startswith("sessions over capacity (log): 1")
    assert "in their session: 59 of 60; e.g." in line
