"""The naive design, as a baseline: one PostgreSQL transaction per sign-up under a row lock.

    BENCH_NAIVE_DSN=postgresql://... granian --interface asgi --factory bench.naive_app:create_app

A benchmark fixture, not the product: it is what a sign-up service usually looks like before it
meets a flash crowd. Its sign-up route, at the same path and with the same body as the real one,
does in one transaction `SELECT ... FROM bench_sessions WHERE ... FOR UPDATE`, counts the seats,
inserts a seat or a waitlist row, and commits; everyone signing up for one session waits in line
for that row lock. It does less than the product on purpose (no key check, no participant check,
no overlap rules, no idempotency, no log), so it flatters the naive design. Its tables live in the
benchmark's scratch database (SCHEMA, created by the benchmark), never in the product's schema.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Response, get, post

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
    session = data.session_id
    waitlist_position = None
    async with _pool.acquire() as conn, conn.transaction():
        capacity = await conn.fetchval(LOCK_SESSION, event, session)
        if capacity is None:
            return Response({"detail": "unknown session"}, status_code=422)
        if await conn.fetchval(COUNT_SEATS, event, session) < capacity:
            await conn.execute(INSERT_SEAT, event, session, participant)
        else:
            await conn.execute(INSERT_WAITING, event, session, participant)
            waitlist_position = await conn.fetchval(COUNT_WAITING, event, session)
    return Response(
        {
            "session_id": session,
            "status": "seated" if waitlist_position is None else "waitlisted",
            "waitlist_position": waitlist_position,
            "fallback_session_id": None,
        },
        status_code=201,
    )


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[sign_up, health], lifespan=[_lifespan])
