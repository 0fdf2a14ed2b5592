"""Servers and databases for the whole suite; see tests/support/servers.py for the choice."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import FrameType

import asyncpg
import pytest
import redis.asyncio as aioredis

from registry.migrations import apply_migrations
from tests.support.servers import (
    ServerUrls,
    choose_servers,
    create_database,
    drop_database,
    unique_name,
)

#: How long a test's pool may take to close once every connection should be back.
POOL_CLOSE_S = 10


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped with SIGTERM (`timeout`, CI cancelling a job) tears down like Ctrl-C, so the
    embedded servers and scratch databases of this run are removed, not left running."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerUrls]:
    # Not under pytest's basetemp: a pytest session started meanwhile by the same user (another
    # checkout's run) deletes all but the newest three basetemps, and with it this run's embedded
    # PostgreSQL cluster (seen: the server gone mid-run, every later test "connection refused").
    with (
        tempfile.TemporaryDirectory(prefix="registry-test-servers-") as folder,
        choose_servers(Path(folder)) as urls,
    ):
        yield urls


@pytest.fixture(scope="session")
async def template_database(servers: ServerUrls) -> AsyncIterator[str]:
    """A migrated database that per-test databases are copied from (CREATE ... TEMPLATE)."""
    name = unique_name("registry_test_template")
    url = await create_database(servers.database_url, name)
    try:
        await apply_migrations(url)
        yield name
    finally:
        await drop_database(servers.database_url, name)


@pytest.fixture(scope="session")
async def database_url(servers: ServerUrls, template_database: str) -> AsyncIterator[str]:
    """This run's own migrated database, shared by the tests that don't need a pristine log."""
    name = unique_name("registry_test")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


@pytest.fixture
async def fresh_database_url(servers: ServerUrls, template_database: str) -> AsyncIterator[str]:
    """A migrated database of this test's own: an empty log, positions from 1."""
    name = unique_name("registry_test")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


@pytest.fixture
async def fresh_pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=20)
    try:
        yield pool
    finally:
        # close() waits for every connection to come back: a task the test left running
        # (a projector's LISTEN) would hang the run here. Cancelled, close() terminates the pool.
        try:
            await asyncio.wait_for(pool.close(), POOL_CLOSE_S)
        except TimeoutError:
            pytest.fail(f"a connection of the test's pool was not released in {POOL_CLOSE_S} s")


@pytest.fixture(scope="session")
def redis_url(servers: ServerUrls) -> str:
    return servers.redis_url


@pytest.fixture(scope="session")
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """This run's Redis key prefix; every key under it is deleted at the end."""
    prefix = unique_name("registry_test")
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()
