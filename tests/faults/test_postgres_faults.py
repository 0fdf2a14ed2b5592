"""PostgreSQL faults mid-load: the application's connections terminated by the server
(pg_terminate_backend), and the database unreachable for a few seconds (a proxy between the
servers and PostgreSQL cut: open connections closed, new ones refused). Commands then answer
503 `unavailable` with Retry-After, never 500 and never a wrong seat; the form backends' retries
with the same key get each command done once (tests.support.fault_runs checks it)."""

from __future__ import annotations

import asyncio
import time
from typing import Final

import pytest

from tests.support.api import Api
from tests.support.api_processes import Processes
from tests.support.fault_runs import Servers, run_scenario
from tests.support.tcp_proxy import CutProxy

#: Every connection of the service in this test's database (the API pools are `registry`, the
#: projector's and the chainer's `registry-projector` and `registry-chainer`); not the test's.
TERMINATE: Final = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = current_database() AND application_name LIKE 'registry%'
   AND pid <> pg_backend_pid()
"""
ROUNDS: Final = 3
#: How long the database stays unreachable.
CUT_FOR_S: Final = 3.0


@pytest.mark.slow
async def test_the_applications_connections_terminated_mid_load(shared_redis: Servers) -> None:
    async def terminate(api: Api, processes: Processes) -> str:
        terminated = []
        for _ in range(ROUNDS):
            terminated.append(int(await shared_redis.pool.fetchval(TERMINATE)))
            await asyncio.sleep(0.4)
        return f"pg_terminate_backend on the service's connections, {ROUNDS} rounds: {terminated}"

    report = await run_scenario("pg_terminate_backend mid-load", shared_redis, terminate)
    report.assert_all_held()


@pytest.mark.slow
async def test_postgresql_unreachable_for_a_few_seconds(shared_redis: Servers) -> None:
    with CutProxy(shared_redis.database_url) as proxy:
        servers = Servers(
            shared_redis.pool,
            shared_redis.database_url,
            shared_redis.redis_url,
            shared_redis.redis_prefix,
            {"REGISTRY_DATABASE_URL": proxy.url(shared_redis.database_url)},
        )

        async def cut(api: Api, processes: Processes) -> str:
            started = time.monotonic()
            closed = await asyncio.to_thread(proxy.cut)
            await asyncio.sleep(CUT_FOR_S)
            await asyncio.to_thread(proxy.restore)
            return (
                f"the proxy to PostgreSQL cut for {time.monotonic() - started:.1f} s "
                f"({closed} connections closed, new ones refused)"
            )

        report = await run_scenario("PostgreSQL unreachable", servers, cut)
    report.assert_all_held()
