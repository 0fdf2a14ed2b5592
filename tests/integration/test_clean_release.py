"""The service pool skips asyncpg's reset query only for a use marked clean, and only once.

registry.eventstore.clean_release: a marked connection goes back without the round trip; an
unmarked one (any use that raised, a session lock left behind) is reset as asyncpg would.
"""

from __future__ import annotations

import asyncpg

from registry import dbroles
from registry.eventstore import clean_release

RESET = "pg_advisory_unlock_all"
HELD = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"


async def _one_connection_pool(url: str) -> tuple[asyncpg.Pool, list[str]]:
    pool = await dbroles.create_pool(url, min_size=1, max_size=1)
    seen: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: seen.append(record.query))
    seen.clear()
    return pool, seen


async def test_a_marked_use_skips_the_reset_and_an_unmarked_one_gets_it(
    fresh_database_url: str,
) -> None:
    pool, seen = await _one_connection_pool(fresh_database_url)
    try:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            clean_release.mark_clean(conn)
        assert not any(RESET in q for q in seen), seen

        seen.clear()
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 2")
        assert any(RESET in q for q in seen), seen
    finally:
        await pool.close()


async def test_a_session_lock_left_by_an_unmarked_use_is_released(fresh_database_url: str) -> None:
    pool, _ = await _one_connection_pool(fresh_database_url)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(42)")  # as a statement cut off mid-way
        async with pool.acquire() as conn:
            assert await conn.fetchval(HELD) == 0
    finally:
        await pool.close()


async def test_a_mark_does_not_outlive_its_use(fresh_database_url: str) -> None:
    """A mark whose release never came (its connection was closed instead) must not spare a
    later backend with the same process id: every acquire drops its connection's mark."""
    pool, seen = await _one_connection_pool(fresh_database_url)
    try:
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
        clean_release._marked.add(pid)  # as a closed connection's mark left behind
        seen.clear()
        async with pool.acquire() as again:
            assert again.get_server_pid() == pid
            await again.fetchval("SELECT 3")
        assert any(RESET in q for q in seen), "the stale mark spared a reset"
        assert pid not in clean_release._marked
    finally:
        await pool.close()
