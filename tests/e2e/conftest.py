from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from registry.api.app import create_app
from registry.auth.keys import create_key
from registry.settings import Settings
from tests.support.api import Api


@pytest.fixture
async def api(fresh_database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Api]:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        keys = {
            f"{org}:{role}": await create_key(conn, role, org)
            for org in ("acme", "other")
            for role in ("organiser", "form", "auditor")
        }
    finally:
        await conn.close()
    settings = Settings(
        database_url=fresh_database_url,
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}-{uuid.uuid4().hex[:8]}",
        pool_max_size=20,
    )
    async with AsyncTestClient(create_app(settings), timeout=60) as client:
        yield Api(client, fresh_database_url, keys, redis_url, settings.redis_prefix)
