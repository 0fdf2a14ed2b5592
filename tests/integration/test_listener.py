"""A NotificationListener cancelled while it starts gives its pooled connection back: an app
stopped right after it started closed its pool only after the pool's 10 s timeout (its
projector was still starting its listener)."""

from __future__ import annotations

import asyncio

from registry import dbroles
from registry.eventstore.listener import NotificationListener


async def test_a_listener_cancelled_while_starting_releases_its_connection(
    fresh_database_url: str,
) -> None:
    pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=1)
    try:
        listener = NotificationListener(pool, "nobody_notifies_this", asyncio.Event())
        async with pool.acquire():  # the only connection: the listener waits for it
            starting = asyncio.create_task(listener.start())
            await asyncio.sleep(0.05)
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            assert starting.cancelled()
        await asyncio.sleep(0.05)  # a listener left running would take the connection now
    finally:
        await asyncio.wait_for(pool.close(), 2.0)  # TimeoutError: the connection was kept
