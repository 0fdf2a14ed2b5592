"""The naive design, as a baseline: one PostgreSQL transaction per sign-up under a row lock.

    BENCH_NAIVE_DSN=postgresql://... granian --interface asgi --factory bench.naive_app:create_app

A benchmark fixture, not the product: it is what a sign-up service usually looks like before it
meets a flash crowd. Its sign-up route, at the same path and with the same body as the real one,
does in one transaction `SELECT ... FROM bench_sessions WHERE ... FOR UPDATE`, counts the seats,
inserts a seat or a waitlist row, and commits; everyone signing up for one session waits in line
for that row lock. A switch (`replaces`) locks both sessions (in id order, so that two switches
never deadlock), 422 unless the replaced seat is held, then moves the seat or waits keeping it; a
cancellation (DELETE, the same path as the real one) locks the session, deletes the seat or
waitlist row and, for a seat, seats the head of the waitlist. It does less than the product on
purpose (no key check, no participant check, no overlap rules, no fallback swaps, no
idempotency, no log), so it flatters the naive design. Its tables live in the
benchmark's scratch database (SCHEMA, created by the benchmark), never in the product's schema.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Response, delete, get, post

SCHEMA = """
CREATE TABLE bench_sessions (
    event_id text NOT NULL, id text NOT NULL, capacity integer NOT NULL,
    PRIMARY KEY (event_id, id)
);
CREATE TABLE bench_seats (
    event_id text NOT NULL, session_id text NOT NULL, participant_id text NOT NULL,
    seated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (event_id, session_id, participant_id)
);
CREATE TABLE bench_waitlist (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL, session_id text NOT NULL, participant_id text NOT NULL,
    UNIQUE (event_id, session_id, participant_id)
);
"""

LOCK_SESSION = "SELECT capacity FROM bench_sessions WHERE event_id = $1 AND id = $2 FOR UPDATE"
COUNT_SEATS = "SELECT count(*) FROM bench_seats WHERE event_id = $1 AND session_id = $2"
INSERT_SEAT = "INSERT INTO bench_seats (event_id, session_id, participant_id) VALUES ($1, $2, $3)"
INSERT_WAITING = """
INSERT INTO bench_waitlist (event_id, session_id, participant_id) VALUES ($1, $2, $3)
"""
COUNT_WAITING = "SELECT count(*) FROM bench_waitlist WHERE event_id = $1 AND session_id = $2"
LOCK_SESSIONS = """
SELECT id FROM bench_sessions WHERE event_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE
"""
HOLDS_SEAT = """
SELECT true FROM bench_seats WHERE event_id = $1 AND session_id = $2 AND participant_id = $3
"""
DELETE_SEAT = """
DELETE FROM bench_seats WHERE event_id = $1 AND session_id = $2 AND participant_id = $3
"""
DELETE_WAITING = """
DELETE FROM bench_waitlist WHERE event_id = $1 AND session_id = $2 AND participant_id = $3
"""
PROMOTE_HEAD = """
WITH head AS (
    DELETE FROM bench_waitlist
     WHERE id = (SELECT min(id) FROM bench_waitlist WHERE event_id = $1 AND session_id = $2)
    RETURNING event_id, session_id, participant_id
)
INSERT INTO bench_seats (event_id, session_id, participant_id)
SELECT event_id, session_id, participant_id FROM head RETURNING participant_id
"""


class SignUpBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    session_id: str
    replaces: str | None = None


_pool: asyncpg.Pool | None = None


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    global _pool
    size = int(os.environ.get("BENCH_NAIVE_POOL", "10"))
    # Opened in full at start, like a warmed-up service: the run measures locking, not connects.
    # The planner settings registry's connections run with (registry.dbroles.PLANNER_SETTINGS):
    # its tables start empty too, and the same stack means the same cached plans.
    _pool = await asyncpg.create_pool(
        os.environ["BENCH_NAIVE_DSN"],
        min_size=size,
        max_size=size,
        server_settings={"enable_seqscan": "off"},
    )
    try:
        yield
    finally:
        await _pool.close()


@post("/v1/events/{event:str}/participants/{participant:str}/signups", status_code=201)
async def sign_up(event: str, participant: str, data: SignUpBody) -> Response[Any]:
    assert _pool is not None
    session, replaces = data.session_id, data.replaces
    waitlist_position = None
    async with _pool.acquire() as conn, conn.transaction():
        if replaces is not None:
            await conn.fetch(LOCK_SESSIONS, event, [session, replaces])
        capacity = await conn.fetchval(LOCK_SESSION, event, session)
        if capacity is None:
            return Response({"detail": "unknown session"}, status_code=422)
        if replaces is not None and not await conn.fetchval(
            HOLDS_SEAT, event, replaces, participant
        ):
            return Response({"detail": "no seat to replace"}, status_code=422)
        if await conn.fetchval(COUNT_SEATS, event, session) < capacity:
            await conn.execute(INSERT_SEAT, event, session, participant)
            if replaces is not None:  # the seat given back goes to its waitlist's head
                await conn.execute(DELETE_SEAT, event, replaces, participant)
                await conn.fetch(PROMOTE_HEAD, event, replaces)
        else:  # full: wait (a switch keeps its seat meanwhile)
            await conn.execute(INSERT_WAITING, event, session, participant)
            waitlist_position = await conn.fetchval(COUNT_WAITING, event, session)
    return Response(
        {
            "session_id": session,
            "status": "seated" if waitlist_position is None else "waitlisted",
            "waitlist_position": waitlist_position,
            "fallback_session_id": replaces if waitlist_position is not None else None,
        },
        status_code=201,
    )


@delete(
    "/v1/events/{event:str}/participants/{participant:str}/signups/{session:str}",
    status_code=200,
)
async def cancel(event: str, participant: str, session: str) -> Response[Any]:
    assert _pool is not None
    async with _pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(LOCK_SESSION, event, session) is None:
            return Response({"detail": "unknown session"}, status_code=404)
        promoted: list[str] = []
        if await conn.execute(DELETE_SEAT, event, session, participant) != "DELETE 0":
            promoted = [r["participant_id"] for r in await conn.fetch(PROMOTE_HEAD, event, session)]
        elif await conn.execute(DELETE_WAITING, event, session, participant) == "DELETE 0":
            return Response({"detail": "not signed up"}, status_code=404)
    return Response({"promoted": promoted}, status_code=200)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[sign_up, cancel, health], lifespan=[_lifespan])
