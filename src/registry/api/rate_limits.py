"""Rate limits per client address and per API key: 429 ``rate-limited`` with ``Retry-After``.

Counted in Redis (the gate's server, keys under ``<REGISTRY_REDIS_PREFIX>:rate:``) by the
``limits`` library's sliding window counter: two counters per identity, updated by one atomic
script per request, so every worker and every API process shares the same count, and memory
per identity is constant whatever the limit. Litestar's own RateLimitMiddleware was not used: it
reads and rewrites a list of every request's timestamp per identity under a per-process lock
(two round trips serialising all of a worker's requests, counts lost between workers, and
a list as long as the limit).

Two middlewares, placed around authentication (registry.api.app): the address's before it (so a
flood of made-up keys, each of which costs a database lookup, is limited too), the key's after
it (it counts by the key's id, never the key). The operations routes (/health, /ready, /metrics,
/schema) are not limited. Both are off unless their setting is above 0 (docs/security.md).

When Redis does not answer, requests pass (fail open): a limit is protection, not the truth,
and the gate reports Redis's absence on the write path anyway.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError

from registry.api.problems import RateLimited
from registry.auth.middleware import PUBLIC_PATHS
from registry.auth.principal import Principal
from registry.settings import Settings

Per = Literal["address", "key"]

_STATE_KEY: Final = "rate_limits"
#: Redis connections per process for the counters (one short script per request).
_MAX_CONNECTIONS: Final = 20
_POOL_WAIT_S: Final = 2.0

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """The counters and the limits in force; ``None``: that limit is off."""

    limiter: SlidingWindowCounterRateLimiter
    per: dict[Per, RateLimitItem]
    window_s: int

    async def check(self, per: Per, identity: str) -> None:
        """Count one request of ``identity``; RateLimited (429) when it is over the limit."""
        item = self.per.get(per)
        if item is None:
            return
        try:
            if await self.limiter.hit(item, per, identity):
                return
            stats = await self.limiter.get_window_stats(item, per, identity)
        except RedisError:
            # Neither the identity (an address is personal data) nor the error's text is logged.
            log.warning("rate limit not checked: Redis did not answer", per=per)
            return
        wait = min(max(1, math.ceil(stats.reset_time - time.time())), self.window_s)
        raise RateLimited(
            f"Too many requests for this {'API key' if per == 'key' else 'client address'}; "
            f"retry in {wait} s.",
            retry_after=wait,
        )


def enabled(settings: Settings) -> bool:
    return settings.rate_limit_per_key > 0 or settings.rate_limit_per_address > 0


def rate_limits_lifespan(
    settings: Settings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Opens the counters' Redis connections while the app runs (when a limit is on)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if not enabled(settings) or settings.redis_url is None:
            yield
            return
        storage, close = _storage(settings)
        per: dict[Per, RateLimitItem] = {}
        if settings.rate_limit_per_key:
            per["key"] = RateLimitItemPerSecond(
                settings.rate_limit_per_key, settings.rate_limit_window_s
            )
        if settings.rate_limit_per_address:
            per["address"] = RateLimitItemPerSecond(
                settings.rate_limit_per_address, settings.rate_limit_window_s
            )
        app.state[_STATE_KEY] = Limits(
            SlidingWindowCounterRateLimiter(storage), per, settings.rate_limit_window_s
        )
        try:
            yield
        finally:
            del app.state[_STATE_KEY]
            await close()

    return lifespan


def _storage(settings: Settings) -> tuple[RedisStorage, Callable[[], Awaitable[None]]]:
    """The ``limits`` storage on the settings' Redis, and how to close its connections."""
    assert settings.redis_url is not None
    prefix = f"{settings.redis_prefix}:rate"
    scheme = urlsplit(settings.redis_url).scheme
    if scheme.endswith("+cluster") or getattr(settings, "redis_cluster", False):
        plain = re.sub(r"^(rediss?)(\+cluster)?://", r"\1+cluster://", settings.redis_url)
        cluster = RedisClusterStorage(
            f"async+{plain}",
            implementation="redispy",
            key_prefix=prefix,
            socket_timeout=settings.redis_socket_timeout_s,
            socket_connect_timeout=settings.redis_connect_timeout_s,
        )

        async def close_cluster() -> None:
            # The bridge's client (redis-py's RedisCluster), made by the storage from the URL.
            client = getattr(cluster.bridge, "storage", None)
            if client is not None:
                await client.aclose()

        return cluster, close_cluster
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=_MAX_CONNECTIONS,
        timeout=_POOL_WAIT_S,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
    )
    storage = RedisStorage(
        f"async+{settings.redis_url}",
        implementation="redispy",
        key_prefix=prefix,
        connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis.asyncio.Redis
    )
    return storage, pool.aclose


_PUBLIC: Final = re.compile("|".join(PUBLIC_PATHS))


class RateLimit(ASGIMiddleware):
    """Counts each request against its address's or its key's limit (``per``)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, per: Per) -> None:
        self.per: Per = per
        # On the instance: a function set on the class would be bound as a method.
        self.should_bypass_for_scope = _is_public

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        limits = scope["litestar_app"].state.get(_STATE_KEY)
        identity = _identity(scope, self.per)
        if isinstance(limits, Limits) and identity is not None:
            await limits.check(self.per, identity)
        await next_app(scope, receive, send)


def _is_public(scope: Scope) -> bool:
    return _PUBLIC.search(scope["path"]) is not None


def _identity(scope: Scope, per: Per) -> str | None:
    if per == "key":
        user = scope.get("user")
        return str(user.key_id) if isinstance(user, Principal) else None
    client = scope.get("client")
    return client[0] if client else None
