"""The process's shared connections: opened when the app starts, closed when it stops.

Handlers get them as the ``resources`` dependency (:func:`provide_resources`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Final

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from redis.asyncio import Redis

from registry.settings import Settings

_STATE_KEY: Final = "resources"
_POOL_CLOSE_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Resources:
    """What a handler may use: the settings, the PostgreSQL pool and the Redis client."""

    settings: Settings
    pool: asyncpg.Pool
    redis: Redis


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open the pool and the Redis client; close both on the way out, whatever happens."""
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError(
            "REGISTRY_DATABASE_URL and REGISTRY_REDIS_URL must both be set "
            "(`registry serve` starts embedded servers when neither is)"
        )
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            # Startup parameters, not `SET` in `init`: the pool runs RESET ALL on every release,
            # which would silently drop a SET but keeps these as the session defaults.
            server_settings={
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": "registry",
            },
        )
        stack.push_async_callback(_close_pool, pool)
        redis = Redis.from_url(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        yield Resources(settings=settings, pool=pool, redis=redis)


def resources_lifespan(
    settings: Settings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan keeping :class:`Resources` on ``app.state`` while the app runs."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state[_STATE_KEY] = resources
            try:
                yield
            finally:
                del app.state[_STATE_KEY]

    return lifespan


def provide_resources(state: State) -> Resources:
    """The ``resources`` dependency."""
    resources = state.get(_STATE_KEY)
    if not isinstance(resources, Resources):
        raise RuntimeError("resources are opened by the app's lifespan; it has not run")
    return resources


async def _close_pool(pool: asyncpg.Pool) -> None:
    """Wait for connections in use to come back, but not for ever."""
    try:
        await asyncio.wait_for(pool.close(), _POOL_CLOSE_TIMEOUT_S)
    except TimeoutError:
        pool.terminate()
