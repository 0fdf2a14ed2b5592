"""Rate limits per API key and per client address (issue 9): 429 `rate-limited` problem+json with
`Retry-After`, counted in Redis so that every worker shares the count."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import httpx
import pytest
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from litestar.testing import AsyncTestClient

from registry.api.app import create_app
from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.api.rate_limits import Limits
from registry.auth.keys import create_key
from registry.settings import Settings

#: A route needing a key: to a valid key, an agenda nobody has answers 404 (and writes nothing).
PROBE = "/v1/events/nothing-here/participants/nobody"
WINDOW_S = 60


@pytest.fixture
async def keys(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        org = f"rl-{uuid.uuid4().hex[:8]}"
        return {role: await create_key(conn, role, org) for role in ("form", "organiser")}
    finally:
        await conn.close()


@pytest.fixture
def settings(database_url: str, redis_url: str, redis_prefix: str) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "redis_url": redis_url,
        # One prefix per test: its counters start at zero.
        "redis_prefix": f"{redis_prefix}-rl-{uuid.uuid4().hex[:8]}",
        "pool_min_size": 1,
        "pool_max_size": 2,
        "rate_limit_window_s": WINDOW_S,
    }


async def clients(count: int, **settings: Any) -> AsyncIterator[list[AsyncTestClient[Any]]]:
    """`count` apps on the same settings: as many workers (or API processes)."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(AsyncTestClient(create_app(Settings(**settings))))
            for _ in range(count)
        ]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_rate_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["type"] == "/problems/rate-limited"
    assert body["status"] == 429
    assert body["title"] and body["detail"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW_S
    return retry_after


async def test_a_key_over_its_limit_is_429_across_workers_and_other_keys_pass(
    settings: dict[str, Any], keys: dict[str, str]
) -> None:
    async for first, second in clients(2, **settings, rate_limit_per_key=3):
        form = bearer(keys["form"])
        assert (await first.get(PROBE, headers=form)).status_code == 404
        assert (await second.get(PROBE, headers=form)).status_code == 404
        assert (await first.get(PROBE, headers=form)).status_code == 404

        assert_rate_limited(await second.get(PROBE, headers=form))  # 4th, on the other worker
        assert_rate_limited(await first.get(PROBE, headers=form))
        # Another key of the same organisation, and the operations routes, are not limited.
        assert (await first.get(PROBE, headers=bearer(keys["organiser"]))).status_code == 404
        for _ in range(5):
            assert (await first.get("/health")).status_code == 200


async def test_the_key_limit_comes_after_authentication(
    settings: dict[str, Any], keys: dict[str, str]
) -> None:
    async for (client,) in clients(1, **settings, rate_limit_per_key=1):
        for _ in range(3):  # no key to count: 401 each time
            assert (await client.get(PROBE)).status_code == 401
        assert (await client.get(PROBE, headers=bearer(keys["form"]))).status_code == 404
        assert_rate_limited(await client.get(PROBE, headers=bearer(keys["form"])))


async def test_an_address_over_its_limit_is_429_with_or_without_a_key(
    settings: dict[str, Any], keys: dict[str, str]
) -> None:
    async for (client,) in clients(1, **settings, rate_limit_per_address=4):
        for _ in range(3):  # made-up keys count: each would cost a database lookup
            assert (await client.get(PROBE, headers=bearer("rk_" + "x" * 43))).status_code == 401
        assert (await client.get(PROBE, headers=bearer(keys["form"]))).status_code == 404

        assert_rate_limited(await client.get(PROBE, headers=bearer(keys["organiser"])))
        assert_rate_limited(await client.get(PROBE))
        assert (await client.get("/ready")).status_code == 200


async def test_limits_off_by_default(settings: dict[str, Any], keys: dict[str, str]) -> None:
    assert Settings().rate_limit_per_key == Settings().rate_limit_per_address == 0
    async for (client,) in clients(1, **settings):
        for _ in range(30):
            assert (await client.get(PROBE, headers=bearer(keys["form"]))).status_code == 404


async def test_redis_away_lets_requests_pass() -> None:
    # Nothing listens on port 1: the check fails open (the limit is protection, not the truth).
    storage = RedisStorage(
        "async+redis://127.0.0.1:1/0",
        implementation="redispy",
        socket_connect_timeout=0.2,
    )
    limits = Limits(
        SlidingWindowCounterRateLimiter(storage), {"key": RateLimitItemPerSecond(1, 60)}, 60
    )

    for _ in range(3):
        await limits.check("key", "some-key-id")
