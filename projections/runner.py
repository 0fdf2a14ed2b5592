"""The projector: feeds each projection the log in global order, exactly once.

- **Exactly once.** A batch is read from the store's fenced `read_all` (never past an event that
  could still commit with a smaller position), then applied inside one transaction that first
  locks the projection's checkpoint row and checks it has not moved, and ends by moving it. A
  crash anywhere leaves either the whole batch and its checkpoint, or neither.
- **Batching.** Up to `batch_size` events per transaction: under load the runner falls behind by
  a batch at most, and each batch costs a few statements (the projections reduce a batch to its
  net effect first).
- **Waking.** NOTIFY on the log's channel wakes every projection, which then lingers a moment
  (`LINGER_S`) so that one round serves the commits close behind; `poll_interval_s` is the
  fallback when a notification is lost (the listener reconnects and wakes after a drop).
- **Leadership.** One leader per projection: a session advisory lock, held on one connection of
  the projector's own. A stand-by tries every `lead_retry_s`; when the leader's connection dies,
  PostgreSQL releases its locks and a stand-by takes over within that interval. Should two ever
  run one projection at once, the checkpoint lock still makes each batch apply once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import asyncpg
import structlog

from projections import checkpoints
from projections.base import Projection
from registry.dbtypes import Connection
from registry.eventstore import EventStore, clean_release
from registry.eventstore.listener import NotificationListener
from registry.eventstore.postgres import CHANNEL

log = structlog.get_logger(__name__)

BATCH_SIZE: Final = 500
POLL_INTERVAL_S: Final = 1.0
LEAD_RETRY_S: Final = 1.0
#: How long a woken runner waits before it reads. Every commit wakes every runner, and each
#: round costs about ten statements whatever it applies: at a few hundred commits a second
#: (sign-ups from a handful of clients) that was twice the CPU of the sign-ups themselves
#: (bench/README.md, 2026-12-06). A few milliseconds gather those commits into one round; a read
#: with `?after=` waits that much longer at most.
LINGER_S: Final = 0.01


async def apply_batch(
    pool: asyncpg.Pool, store: EventStore, projection: Projection, batch_size: int = BATCH_SIZE
) -> int:
    """Apply the next batch to the live generation; the number of events applied (0: caught up;
    a batch that lost a race with another runner or a swap counts 0 and is read again)."""
    applied, _ = await apply_next(pool, store, projection, batch_size)
    return applied


#: A projection's live (generation, position), as the runner's last batch left it.
Mark = tuple[int, int]


async def apply_next(
    pool: asyncpg.Pool,
    store: EventStore,
    projection: Projection,
    batch_size: int = BATCH_SIZE,
    known: Mark | None = None,
) -> tuple[int, Mark | None]:
    """`apply_batch`, and the mark to pass as `known` next time: a runner that knows where its
    last batch left the checkpoint need not read it first (a statement and a pooled connection
    a round, per projection: issue 8's profile). The batch's transaction locks the checkpoint
    and compares it with the mark either way; a stale mark (a swap, another runner) applies
    nothing and answers None: read it again."""
    if known is None:
        async with pool.acquire() as conn:
            before = await checkpoints.live(conn, projection.name)
            clean_release.mark_clean(conn)  # one SELECT: nothing for the pool to reset
        known = before.generation, before.position
    generation, position = known
    events = await store.read_all(position + 1, batch_size)
    if not events:
        return 0, known
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await conn.fetchrow(checkpoints.LOCK_LIVE, projection.name)
            if row is None or (row["generation"], row["position"]) != known:
                return 0, None
            await projection.apply(conn, generation, events)
            last = events[-1]
            await conn.execute(
                checkpoints.ADVANCE,
                projection.name,
                generation,
                last.position,
                last.recorded_at,
            )
        clean_release.mark_clean(conn)  # committed: the transaction left no session state
    return len(events), (generation, last.position)


class Projector:
    """Runs, in this process, every projection it can lead."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        projections: Sequence[Projection],
        connect: Callable[[], Awaitable[Connection]],
        *,
        batch_size: int = BATCH_SIZE,
        poll_interval_s: float = POLL_INTERVAL_S,
        lead_retry_s: float = LEAD_RETRY_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self._pool = pool
        self._linger_s = linger_s
        self._store = store
        self._projections = list(projections)
        self._connect = connect
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._lead_retry_s = lead_retry_s
        self._wakes: dict[str, asyncio.Event] = {p.name: asyncio.Event() for p in projections}
        #: The projections this process leads now (for status and tests).
        self.leading: set[str] = set()

    async def run(self) -> None:
        """Until cancelled: lead what it can, follow the log, take over what a leader drops."""
        async with self._pool.acquire() as conn:
            for projection in self._projections:
                await checkpoints.ensure(conn, projection.name)
        shared = asyncio.Event()
        listener = NotificationListener(self._pool, CHANNEL, shared)
        await listener.start()
        fan_out = asyncio.create_task(self._fan_out(shared), name="projector-wakes")
        try:
            while True:
                try:
                    await self._lead()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.warning("projector lost its leadership connection", exc_info=True)
                await asyncio.sleep(self._lead_retry_s)
        finally:
            fan_out.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fan_out
            await listener.close()

    async def _fan_out(self, shared: asyncio.Event) -> None:
        while True:
            await shared.wait()
            shared.clear()
            for wake in self._wakes.values():
                wake.set()

    async def _lead(self) -> None:
        """Hold one connection; take each projection's lock when free and run it; give all up
        if the connection fails (PostgreSQL has released the locks then)."""
        conn = await self._connect()
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                for projection in self._projections:
                    name = projection.name
                    if name in tasks:
                        if tasks[name].done():  # a runner failed: log it and start it again
                            await self._reap(name, tasks.pop(name))
                        else:
                            continue
                    led = await conn.fetchval(
                        checkpoints.TRY_LEAD, checkpoints.LEADER_LOCK_CLASS, name
                    )
                    if led and name not in tasks:
                        log.info("leading projection", projection=name)
                        tasks[name] = asyncio.create_task(self._follow(projection), name=name)
                        self.leading.add(name)
                await conn.fetchval("SELECT 1")  # the locks live as long as this connection
                await asyncio.sleep(self._lead_retry_s)
        finally:
            for task in tasks.values():
                task.cancel()
            # Not `suppress(BaseException)` around each await: that would also swallow the
            # cancellation of this task itself, and the projector would never stop.
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            self.leading.clear()
            with contextlib.suppress(Exception):
                await conn.close()

    async def _reap(self, name: str, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            if (error := task.exception()) is not None:
                log.error("projection runner failed; restarting", projection=name, exc_info=error)

    async def _follow(self, projection: Projection) -> None:
        wake = self._wakes[projection.name]
        mark: Mark | None = None
        while True:
            wake.clear()
            try:
                applied, mark = await apply_next(
                    self._pool, self._store, projection, self._batch_size, mark
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning(
                    "projection batch failed; retrying", projection=projection.name, exc_info=True
                )
                mark = None  # read the checkpoint again: the batch may or may not have committed
                await asyncio.sleep(self._poll_interval_s)
                continue
            if applied >= self._batch_size:
                continue  # behind: read on at once
            # Caught up (a part batch), or lost a race: wait for the next commit. Reading again
            # at once would mostly find nothing, at a few statements a time; a commit that came
            # meanwhile has set `wake` already.
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the awaited event is set, and the projector
                # then never stops (https://github.com/python/cpython/issues/86296).
                async with asyncio.timeout(self._poll_interval_s):
                    await wake.wait()
                    # Woken by a commit: let the commits of the next moment come along too, one
                    # batch for them all (LINGER_S).
                    await asyncio.sleep(self._linger_s)
