"""Redis loses its data mid-load: FLUSHALL, and a stop and start (it comes back empty). The
gate must notice (its sentinel is gone), rebuild each event from the log before deciding again,
and oversell nothing (tests.support.fault_runs says what is checked afterwards). Both run on a
Redis of the test's own: flushing or stopping a shared one would hit everyone else's keys."""

from __future__ import annotations

import asyncio
import time
from typing import Final

import pytest
import redis.asyncio as aioredis

from tests.support.api import Api
from tests.support.api_processes import Processes
from tests.support.fault_runs import Servers, run_scenario
from tests.support.private_redis import PrivateRedis

#: How long Redis stays away in the stop-and-start scenario.
DOWN_FOR_S: Final = 2.0


@pytest.mark.slow
async def test_redis_flushall_mid_load(own_redis: Servers) -> None:
    async def flush(api: Api, processes: Processes) -> str:
        client = aioredis.Redis.from_url(own_redis.redis_url)
        try:
            keys = await client.dbsize()
            await client.flushall()
        finally:
            await client.aclose()
        return f"FLUSHALL on the gate's Redis ({keys} keys gone)"

    report = await run_scenario("Redis FLUSHALL mid-load", own_redis, flush)
    report.assert_all_held()


@pytest.mark.slow
async def test_redis_stopped_and_started_again_mid_load(
    own_redis: Servers, private_redis: PrivateRedis
) -> None:
    async def stop_and_start(api: Api, processes: Processes) -> str:
        started = time.monotonic()
        await asyncio.to_thread(private_redis.stop)
        await asyncio.sleep(DOWN_FOR_S)
        await asyncio.to_thread(private_redis.start)
        return (
            f"redis-server stopped (SIGTERM, no persistence) and started again empty on the "
            f"same port after {time.monotonic() - started:.1f} s"
        )

    report = await run_scenario("Redis stopped and restarted", own_redis, stop_and_start)
    report.assert_all_held()
