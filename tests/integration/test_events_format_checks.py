"""The database's own format checks on events (migrations/0021) accept exactly what the store's
Python check accepts (registry.eventstore.prepare.STREAM_ID): the faster form of the CHECK must
not let through, or refuse, a single string the old one did not."""

from __future__ import annotations

import re
import uuid

import asyncpg
import pytest

from registry.eventstore.prepare import STREAM_ID

INSERT = """
INSERT INTO events (position, event_id, stream_id, stream_version, type, schema_version, data,
                    metadata, recorded_at, transaction_id)
VALUES (nextval('events_position_seq'), $1, $2, 1, $3, 1, '{}', '{}', now(), pg_current_xact_id())
"""

STREAM_IDS = [
    "participant-acme:day:p1",
    "a-b",
    "a" * 32 + "-x",  # the longest category
    "a" * 33 + "-x",
    "a-" + "x" * 200,  # the longest id
    "a-" + "x" * 201,
    "event-x-y",  # a '-' inside the id is fine
    "Event-x",
    "1event-x",
    "event-",
    "event",
    "-x",
    "event-_x",
    "ev_ent9-X.y:z_1-",
    "event-x y",
    "évent-x",
]
TYPES = ["SeatAssigned", "a", "A" * 100, "A" * 101, "9Seat", "Seat-Assigned", "v1.Seat_x", ""]


async def accepted(conn: asyncpg.Connection, stream_id: str, type_: str) -> bool:
    try:
        async with conn.transaction():
            await conn.execute(INSERT, uuid.uuid4(), stream_id, type_)
            raise _RollBack
    except _RollBack:
        return True
    except asyncpg.CheckViolationError:
        return False


class _RollBack(Exception):
    pass


@pytest.mark.parametrize("stream_id", STREAM_IDS)
async def test_stream_ids_as_the_store_checks_them(database_url: str, stream_id: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await accepted(conn, stream_id, "Noted") == bool(STREAM_ID.fullmatch(stream_id))
    finally:
        await conn.close()


@pytest.mark.parametrize("type_", TYPES)
async def test_types_as_the_old_check_had_them(database_url: str, type_: str) -> None:
    old = bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]{0,99}", type_))
    conn = await asyncpg.connect(database_url)
    try:
        assert await accepted(conn, "note-1", type_) == old
    finally:
        await conn.close()
