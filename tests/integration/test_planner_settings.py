"""Service connections keep index plans for the log's reads even when the log was empty at the
time the connection cached its plan (registry.dbroles.PLANNER_SETTINGS).

A prepared statement's generic plan is cached from its sixth run on and kept until the table is
analyzed; built on an empty table it would be a sequential scan, and every later call would scan
the whole log.
"""

from __future__ import annotations

import json

import asyncpg
import pytest

from registry import dbroles
from registry.eventstore.pg_queries import READ_STREAM, STREAM_IDS

RUNS_BEFORE_GENERIC = 6  # PostgreSQL plans the first five runs for their parameters


async def _cached_plan(conn: asyncpg.Connection) -> str:
    await conn.execute(f"PREPARE read_stream (text, bigint, bigint) AS {READ_STREAM}")
    for _ in range(RUNS_BEFORE_GENERIC):
        await conn.fetch("EXECUTE read_stream ('participant-o:e:p', 1, NULL)")
    rows = await conn.fetch("EXPLAIN EXECUTE read_stream ('participant-o:e:p', 1, NULL)")
    return "\n".join(row[0] for row in rows)


async def test_a_service_connection_caches_an_index_plan_on_an_empty_log(
    fresh_database_url: str,
) -> None:
    conn = await dbroles.connect(fresh_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        plan = await _cached_plan(conn)
    finally:
        await conn.close()
    assert "$1" in plan, f"not the generic plan:\n{plan}"
    assert "Index" in plan and "Seq Scan" not in plan, plan


@pytest.mark.parametrize("pooled", [False, True])
async def test_the_setting_survives_the_pools_reset(fresh_database_url: str, pooled: bool) -> None:
    """Startup parameters, not SET: RESET ALL on release brings them back, never drops them."""
    if pooled:
        pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await conn.execute("SET enable_seqscan = on")
            async with pool.acquire() as conn:
                setting = await conn.fetchval("SHOW enable_seqscan")
        finally:
            await pool.close()
    else:
        conn = await dbroles.connect(fresh_database_url)
        try:
            await conn.execute("RESET ALL")
            setting = await conn.fetchval("SHOW enable_seqscan")
        finally:
            await conn.close()
    assert setting == "off"


async def test_the_streams_under_a_prefix_are_read_without_reading_every_stream(
    fresh_database_url: str,
) -> None:
    """The reconciler lists every `event-` stream in each worker every few seconds
    (handlers/upkeep.py); with one row per participant ever registered in `streams`, that list
    must read the prefix's rows, not the table (migrations/0068_streams_prefix_index.sql)."""
    admin = await asyncpg.connect(fresh_database_url)
    try:
        await admin.execute(
            "INSERT INTO streams (stream_id, version) SELECT 'participant-o:e:' || g, 1"
            " FROM generate_series(1, 20000) g"
        )
        await admin.execute("INSERT INTO streams VALUES ('event-o:a', 3), ('event-o:b', 2)")
        await admin.execute("ANALYZE streams")
    finally:
        await admin.close()
    conn = await dbroles.connect(fresh_database_url)
    try:
        await conn.execute(f"PREPARE stream_ids (text) AS {STREAM_IDS}")
        for _ in range(RUNS_BEFORE_GENERIC + 1):  # the custom plans, then what is cached
            found = await conn.fetch("EXECUTE stream_ids ('event-')")
            explained = await conn.fetchval(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE stream_ids ('event-')"
            )
            plan = json.loads(explained)[0]["Plan"]
            buffers = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
            # Two rows: a handful of index and heap pages, against ~100 pages of the whole
            # primary key and ~130 of the table.
            assert buffers <= 10, (buffers, plan)
    finally:
        await conn.close()
    assert [r["stream_id"] for r in found] == ["event-o:a", "event-o:b"]
