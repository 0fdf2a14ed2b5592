from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.api import Api, running_api


@pytest.fixture
async def api(fresh_database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Api]:
    async with running_api(fresh_database_url, redis_url, redis_prefix) as api:
        yield api
