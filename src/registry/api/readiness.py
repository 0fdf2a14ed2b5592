"""Readiness: may this process be given traffic? Every check in :data:`READINESS_CHECKS` must pass.

A check is an async function of :class:`Resources` that returns when all is well and raises
:class:`NotReady` (with a reason safe to show) when not; any other error counts as "unreachable"
and is logged. Checks run concurrently, each under a time limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from registry.api.lifespan import Resources
from registry.api.problems import Unavailable
from registry.migrations import MigrationError, pending_migrations

ReadinessCheck = Callable[[Resources], Awaitable[None]]

CHECK_TIMEOUT_S: Final = 2.0
OK: Final = "ok"

_log = logging.getLogger(__name__)


class NotReady(Exception):
    """A check failed; the message is shown in the answer."""


async def postgres_answers(resources: Resources) -> None:
    async with resources.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


async def redis_answers(resources: Resources) -> None:
    await resources.redis.ping()


async def migrations_current(resources: Resources) -> None:
    async with resources.pool.acquire() as conn:
        try:
            pending = await pending_migrations(conn)
        except MigrationError as error:
            raise NotReady(str(error)) from error
    if pending:
        raise NotReady("pending: " + ", ".join(pending))


async def gates_built(resources: Resources) -> None:
    if not resources.upkeep.gates_built:
        raise NotReady("the capacity gates are being built from the log")


#: Everything that must hold before traffic is admitted, by name.
READINESS_CHECKS: Final[Mapping[str, ReadinessCheck]] = {
    "postgres": postgres_answers,
    "redis": redis_answers,
    "migrations": migrations_current,
    "gates": gates_built,
}


async def check_readiness(
    resources: Resources, checks: Mapping[str, ReadinessCheck] = READINESS_CHECKS
) -> dict[str, str]:
    """Each check's outcome (``"ok"`` or why not); raises :class:`Unavailable` unless all pass."""
    outcomes = await asyncio.gather(
        *(_outcome(name, check, resources) for name, check in checks.items())
    )
    results = dict(zip(checks, outcomes, strict=True))
    if failing := [name for name, outcome in results.items() if outcome != OK]:
        raise Unavailable(f"Not ready: {', '.join(failing)}.", checks=results, failing=failing)
    return results


async def _outcome(name: str, check: ReadinessCheck, resources: Resources) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await check(resources)
    except NotReady as reason:
        return str(reason)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as error:
        _log.warning("readiness check %r failed: %r", name, error)
        return "unreachable"
    return OK
