"""Fixtures of the Redis gate's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The Redis URL and a key prefix of this test's own (under the run's prefix)."""
    prefix = f"{request.getfixturevalue('redis_prefix')}-{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue("redis_url"), prefix


@pytest.fixture
async def client(backend: tuple[str, str]) -> AsyncIterator[aioredis.Redis]:
    """A client of that Redis; every key under the test's prefix is deleted afterwards."""
    url, prefix = backend
    redis = aioredis.Redis.from_url(url)
    try:
        yield redis
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*"):
            await redis.delete(key)
        await redis.aclose()
