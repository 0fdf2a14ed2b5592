"""The process's shared connections: opened when the app starts, closed when it stops.

Handlers get them as the ``resources`` dependency (:func:`provide_resources`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.datastructures import State

from projections import PROJECTIONS
from projections.runner import Projector
from projections.shared_reads import SharedOccupancy
from registry import dbroles
from registry.api import heap
from registry.audit.chainer import Chainer
from registry.capacity import connect
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import upkeep
from registry.handlers.gate_sync import GateKeeper
from registry.notifications.dispatcher import Dispatcher, DispatchSettings
from registry.settings import Settings

_STATE_KEY: Final = "resources"
_POOL_CLOSE_TIMEOUT_S: Final = 10.0
_GATE_BUILD_TIMEOUT_S: Final = 30.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resources:
    """What a handler may use: the settings, the PostgreSQL pool and the Redis client."""

    settings: Settings
    pool: asyncpg.Pool
    #: One server or a cluster (registry.capacity.connect).
    redis: connect.Pingable
    #: The write path's dependencies: the event store and the capacity gate.
    keeper: GateKeeper
    #: Whether the gates were built since start (a readiness check).
    upkeep: upkeep.Upkeep
    #: Occupancy answers shared for a moment among this process's readers.
    occupancy: SharedOccupancy


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open the pool and the Redis client; close both on the way out, whatever happens."""
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError(
            "REGISTRY_DATABASE_URL and REGISTRY_REDIS_URL must both be set "
            "(`registry serve` starts embedded servers when neither is)"
        )
    async with AsyncExitStack() as stack:
        pool = await dbroles.create_pool(
            settings.database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            # Startup parameters, not `SET` in `init`: the pool runs RESET ALL on every release,
            # which would silently drop a SET but keeps these as the session defaults (the role
            # registry_app too: dbroles).
            server_settings={
                "statement_timeout": str(settings.statement_timeout_ms),
                # Bounds on what a request may hold (docs/security.md): a lock wait, and a
                # transaction left open while idle (its locks go with the ended session).
                "lock_timeout": str(settings.lock_timeout_ms),
                "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
                "application_name": "registry",
            },
        )
        stack.push_async_callback(_close_pool, pool)
        # One server on a blocking pool, or a Redis Cluster (REGISTRY_REDIS_CLUSTER).
        redis, gate = connect.open_gate(settings)
        stack.push_async_callback(redis.aclose)
        store = PostgresEventStore(
            pool,
            EventCodec(ALL_EVENTS),
            append_batch=settings.append_batch_max,
            append_batches_in_flight=settings.append_batches_in_flight,
        )
        keeper = GateKeeper(store, gate)
        status = upkeep.Upkeep()
        # Build the gates from the log before serving (so a normal start is ready at once); if
        # that fails, the background task keeps trying while /ready says no. Then it reconciles
        # expired holds for as long as we run.
        try:
            await asyncio.wait_for(upkeep.build(keeper, status), _GATE_BUILD_TIMEOUT_S)
        except Exception:
            _log.warning("capacity gates not built at start; retrying in the background")
        task = asyncio.create_task(upkeep.run(keeper, status), name="gate-upkeep")
        stack.push_async_callback(_cancel, task)
        if settings.projector_in_process:
            # Every worker runs one; each projection has one leader among them (runner.py).
            projector = Projector(pool, store, PROJECTIONS, _connector(settings.database_url))
            run = asyncio.create_task(projector.run(), name="projector")
            stack.push_async_callback(_cancel, run)
            # The hash chain beside them: one leader among the workers (registry.audit.chainer).
            chainer = Chainer(_connector(settings.database_url, "registry-chainer"))
            chained = asyncio.create_task(chainer.run(), name="chainer")
            stack.push_async_callback(_cancel, chained)
        # Every worker runs one; they share the work through row locks (notifications/outbox.py).
        dispatcher = Dispatcher(pool, DispatchSettings.from_settings(settings))
        webhooks = asyncio.create_task(dispatcher.run(), name="webhook-dispatcher")
        stack.push_async_callback(_cancel, webhooks)
        heap.freeze_startup_heap()  # last: what start-up built stays out of full collections
        yield Resources(
            settings=settings,
            pool=pool,
            redis=redis,
            keeper=keeper,
            upkeep=status,
            occupancy=SharedOccupancy(pool),
        )


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
    """The ``resources`` dependency (the app's rarer routes ask for it by name)."""
    resources = state.get(_STATE_KEY)
    if not isinstance(resources, Resources):
        raise RuntimeError("resources are opened by the app's lifespan; it has not run")
    return resources


def resources_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Resources:
    """The resources, from a request: what the frequent routes (commands, reads) use instead of
    the dependency, whose injection costs ~9 us a request (bench/README.md, 2026-12-07
    afternoon)."""
    return provide_resources(connection.app.state)


def _connector(
    url: str, name: str = "registry-projector"
) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """The projector's (or the chainer's) own connection, which holds its leadership locks."""

    async def connect() -> asyncpg.Connection:
        settings = {"application_name": name}
        return await dbroles.connect(url, server_settings=settings)

    return connect


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_pool(pool: asyncpg.Pool) -> None:
    """Wait for connections in use to come back, but not for ever."""
    try:
        await asyncio.wait_for(pool.close(), _POOL_CLOSE_TIMEOUT_S)
    except TimeoutError:
        pool.terminate()
