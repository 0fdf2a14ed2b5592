"""One feed per process: tells every open live stream when the read models have moved on.

The log's NOTIFY says an event was appended; the projections apply it a moment later, and their
checkpoints send no notification of their own. So one task per process (not one per stream)
listens on the log's channel, then polls the checkpoints until they have reached the log's head,
and wakes the streams each time the lowest of them advances. A stream that wakes reads only what
the read models hold up to that position: what it sends, and what the page then fetches with
`?after=`, agree.

The task and its LISTEN connection (a pooled connection held for as long as it runs) exist only
while at least one stream is open. :meth:`LiveFeed.end_streams` (on SIGTERM/SIGINT, see
termination.py) and :meth:`LiveFeed.close` (the app's lifespan) end every stream, so a server
draining its responses before it stops is not held up by them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

import asyncpg

from projections import checkpoints
from registry.eventstore import EventStore
from registry.eventstore.listener import NotificationListener
from registry.eventstore.pg_queries import CHANNEL

#: The read models a live stream and the page's reads depend on: occupancy rows (catalog,
#: occupancy), attendees and conflicts (seats), waitlists (waitlists).
WATCHED: Final = ("catalog", "occupancy", "seats", "waitlists")
#: Fallback poll when no notification comes (a lost NOTIFY, a projector in another process).
POLL_S: Final = 1.0
#: First poll interval while the projections catch up with the head; doubles up to POLL_S while
#: they make no progress (a stopped projector is not polled 50 times a second for ever).
CATCH_UP_S: Final = 0.01
_FAILURES: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class LiveFeed:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        *,
        poll_s: float = POLL_S,
        catch_up_s: float = CATCH_UP_S,
    ) -> None:
        self._pool = pool
        self._store = store
        self._poll_s = poll_s
        self._catch_up_s = catch_up_s
        #: Set (and replaced) whenever `position` advances; see :meth:`moved`.
        self._moved = asyncio.Event()
        self._closing = asyncio.Event()
        self._subscribers = 0
        self._task: asyncio.Task[None] | None = None
        #: The lowest checkpoint of the WATCHED read models, as last read.
        self.position = 0

    @property
    def closing(self) -> asyncio.Event:
        """Set once the app shuts down: streams end."""
        return self._closing

    def moved(self) -> asyncio.Event:
        """An event set the next time `position` advances (or the feed closes).

        Take it *before* looking at `position`: an advance between the look and the wait then
        still wakes the waiter.
        """
        return self._moved

    async def read_position(self) -> int:
        """The lowest checkpoint of the WATCHED read models, read now."""
        async with self._pool.acquire() as conn:
            found = await checkpoints.positions(conn, list(WATCHED))
        return min(found.values())

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[None]:
        """Keep the feed running while the block runs (it stops with the last subscriber)."""
        self._subscribers += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live-feed")
        try:
            yield
        finally:
            self._subscribers -= 1
            if self._subscribers == 0:
                await self._stop()

    def end_streams(self) -> None:
        """Tell every stream to end now (the server is stopping); new ones end at once."""
        self._closing.set()
        self._tick()

    async def close(self) -> None:
        """End every stream and the feed's task."""
        self.end_streams()
        await self._stop()

    def _tick(self) -> None:
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        wake = asyncio.Event()
        listener = NotificationListener(self._pool, CHANNEL, wake)
        await listener.start()
        pause = self._catch_up_s
        try:
            while True:
                wake.clear()
                try:
                    reached = await self.read_position()
                    head = await self._store.head()
                except _FAILURES:
                    reached, head = self.position, self.position  # wait, then try again
                advanced = reached > self.position
                if advanced:
                    self.position = reached
                    self._tick()
                # Caught up: wait for the next notification, polling now and then in case one
                # was lost. Behind the head: the projector is applying it; poll soon, less
                # often while it makes no progress.
                if reached >= head:
                    pause, timeout = self._catch_up_s, self._poll_s
                else:
                    if advanced:
                        pause = self._catch_up_s
                    timeout, pause = pause, min(pause * 2, self._poll_s)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):  # not wait_for: see projections/runner
                        await wake.wait()
        finally:
            await listener.close()
