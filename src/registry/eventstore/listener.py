"""One LISTEN connection kept open in the background: each notification sets an asyncio.Event.

A dropped connection is replaced (with backoff), and the event is set after every reconnect, since
notifications sent while disconnected are lost; subscribers poll as well, so a lost wake-up only
delays them by one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)


class NotificationListener:
    def __init__(self, pool: asyncpg.Pool, channel: str, wake: asyncio.Event) -> None:
        self._pool = pool
        self._channel = channel
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"listen:{self._channel}")
        # Wait for the first LISTEN so that a caller's next read cannot miss a notification;
        # if the server is down, carry on: polling covers the gap until the listener connects.
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):  # not wait_for: see projections/runner.py
                    await self._connected.wait()
        except BaseException:
            # Cancelled while starting (an app stopped right after it started): the callers'
            # `finally: close()` is not reached yet, and the task would keep its pooled
            # connection, holding up the pool's close for its whole timeout.
            await self.close()
            raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            lost = asyncio.Event()
            try:
                async with self._pool.acquire() as conn:
                    conn.add_termination_listener(_setter(lost))
                    await conn.add_listener(self._channel, self._notified)
                    try:
                        self._connected.set()
                        self._wake.set()
                        backoff = 0.05
                        await lost.wait()
                    finally:
                        if not conn.is_closed():
                            await conn.remove_listener(self._channel, self._notified)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("listen connection failed", channel=self._channel, error=str(error))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


def _setter(event: asyncio.Event) -> Any:
    return lambda *_: event.set()
