"""The projector: feeds each projection the log in global order, exactly once.

- **Exactly once.** A batch is read from the store's fenced `read_all` (never past an event that
  could still commit with a smaller position), then applied inside one transaction that first
  locks the projection's checkpoint row and checks it has not moved, and ends by moving it. A
  crash anywhere leaves either the whole batch and its checkpoint, or neither.
- **Batching.** Up to `batch_size` events per transaction: under load the runner falls behind by
  a batch at most, and each batch costs a few statements (the projections reduce a batch to its
  net effect first).
- **One round for all.** A process runs every projection it leads in one round: the log read
  once, one transaction that locks all their checkpoints (`apply_round`). A projection whose
  batch fails is run apart until a batch of its own goes through, so it holds up no other.
- **Waking.** NOTIFY on the log's channel wakes the round, which then lingers a moment
  (`LINGER_S`; `BUSY_LINGER_S` after a round of `BUSY_ROUND` events or more) so that one round
  serves the commits close behind; `poll_interval_s` is the fallback when a notification is
  lost (the listener reconnects and wakes after a drop).
- **Leadership.** One leader per projection: a session advisory lock, held on one connection of
  the projector's own. A stand-by tries every `lead_retry_s`; when the leader's connection dies,
  PostgreSQL releases its locks and a stand-by takes over within that interval. Should two ever
  run one projection at once, the checkpoint lock still makes each batch apply once.
- **All in one place.** Only a process holding the lock of its whole set of projections tries
  their own locks. When every process tried each projection's lock, two could split the set
  (after a leader's connection dropped, the stand-by and the reconnected leader raced for them
  one by one), and each then read the log and paid a round for its share. The set's lock is a
  preference, not the exclusion: processes with another set (another release) still split it,
  correctly, as before (docs/decisions.md, 2026-12-07 late night).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Final, NamedTuple

import asyncpg
import structlog

from projections import checkpoints
from projections.base import Projection
from registry.dbtypes import Connection
from registry.eventstore import EventStore, clean_release
from registry.eventstore.listener import NotificationListener
from registry.eventstore.pg_queries import CHANNEL

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
#: How long it lingers instead after a round that read BUSY_ROUND events or more, i.e. under
#: load (~1,000 sign-ups/s and up with the 10 ms above). A round costs its fixed price (the fence,
#: each checkpoint, the commit) however many events it applies; at 2,000 sign-ups/s the short
#: linger made ~35 rounds a second of ~60 events. Waiting longer there lets each round take more
#: (bench/README.md, "2026-12-07, late morning"); a read with `?after=` then waits up to that
#: much longer, but only while the log is that busy: a quiet log is read after LINGER_S.
BUSY_LINGER_S: Final = 0.05
BUSY_ROUND: Final = 100


async def apply_batch(
    pool: asyncpg.Pool, store: EventStore, projection: Projection, batch_size: int = BATCH_SIZE
) -> int:
    """Apply the next batch to the live generation; the number of events applied (0: caught up;
    a batch that lost a race with another runner or a swap counts 0 and is read again)."""
    applied, _ = await apply_next(pool, store, projection, batch_size)
    return applied


#: A projection's live (generation, position), as the runner's last batch left it.
Mark = tuple[int, int]


class Round(NamedTuple):
    """What one round did: `read` events read (a full batch: behind, read on at once), how many
    each projection applied, and the marks to pass next time (None: read the checkpoint)."""

    read: int
    applied: dict[str, int]
    marks: dict[str, Mark | None]


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
    done = await apply_round(pool, store, [projection], {projection.name: known}, batch_size)
    return done.applied.get(projection.name, 0), done.marks[projection.name]


async def apply_round(
    pool: asyncpg.Pool,
    store: EventStore,
    projections: Sequence[Projection],
    marks: Mapping[str, Mark | None],
    batch_size: int = BATCH_SIZE,
) -> Round:
    """One batch for several projections: the log read once, from the one furthest behind, and
    applied to each in one transaction that locks their checkpoints, compares each with its mark
    and moves them. Every projection a process led used to run its own round (a read, a
    transaction, a lock, a move): four of them were 14 % of an API worker (issue 8's profile).

    A projection whose mark is stale (a swap, another runner) applies nothing this round and
    gets None; one that is ahead of the others applies only the events past its checkpoint. An
    error in any of them rolls back the round for all: the caller runs them apart to find it."""
    if not projections:
        return Round(0, {}, {})
    known = {p.name: marks.get(p.name) for p in projections}
    if unknown := [name for name, mark in known.items() if mark is None]:
        async with pool.acquire() as conn:
            rows = await conn.fetch(checkpoints.LIVE_MANY, unknown)
            clean_release.mark_clean(conn)  # one SELECT: nothing for the pool to reset
        known |= _marks_of(rows)
        if missing := [name for name in unknown if known[name] is None]:
            raise LookupError(f"projections {missing} have no state; run the projector once")
    furthest_behind = min(mark[1] for mark in known.values() if mark is not None)
    events = await store.read_all(furthest_behind + 1, batch_size)
    if not events:
        return Round(0, {}, known)
    applied: dict[str, int] = {}
    moves: list[tuple[str, int, int, datetime]] = []
    async with pool.acquire() as conn:
        async with conn.transaction():
            now = _marks_of(await conn.fetch(checkpoints.LOCK_LIVE_MANY, list(known)))
            for projection in projections:
                name = projection.name
                mark = known[name]
                if mark is None or now.get(name) != mark:
                    known[name] = None  # moved under us: apply nothing, read it again
                    continue
                generation, position = mark
                todo = [e for e in events if e.position > position]
                if todo:
                    await projection.apply(conn, generation, todo)
                    last = todo[-1]
                    moves.append((name, generation, last.position, last.recorded_at))
                    known[name] = generation, last.position
                applied[name] = len(todo)
            if moves:
                await conn.executemany(checkpoints.ADVANCE, moves)
        clean_release.mark_clean(conn)  # committed: the transaction left no session state
    return Round(len(events), applied, known)


def _marks_of(rows: Sequence[asyncpg.Record]) -> dict[str, Mark | None]:
    return {row["name"]: (row["generation"], row["position"]) for row in rows}


class Projector:
    """Runs, in this process, every projection it can lead: one round for all of them."""

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
        busy_linger_s: float = BUSY_LINGER_S,
        busy_round: int = BUSY_ROUND,
    ) -> None:
        self._pool = pool
        self._linger_s = linger_s
        self._busy_linger_s = busy_linger_s
        self._busy_round = busy_round
        self._store = store
        self._projections = list(projections)
        self._connect = connect
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._lead_retry_s = lead_retry_s
        self._wake = asyncio.Event()
        #: The key of the set's lock: the same set in every process of one release.
        self._set_name = ",".join(sorted(p.name for p in self._projections))
        #: The projections this process leads now (for status and tests).
        self.leading: set[str] = set()

    async def run(self) -> None:
        """Until cancelled: lead what it can, follow the log, take over what a leader drops."""
        async with self._pool.acquire() as conn:
            for projection in self._projections:
                await checkpoints.ensure(conn, projection.name)
        listener = NotificationListener(self._pool, CHANNEL, self._wake)
        await listener.start()
        try:
            while True:
                try:
                    await self._lead()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.warning("projector lost its leadership connection", exc_info=True)
                await asyncio.sleep(self._lead_retry_s)
        finally:
            await listener.close()

    async def _lead(self) -> None:
        """Hold one connection; take the set's lock, then each projection's lock when free;
        follow the log for those led; give all up if the connection fails (PostgreSQL has
        released the locks then)."""
        conn = await self._connect()
        follower: asyncio.Task[None] | None = None
        leads_set = False
        try:
            while True:
                if not leads_set:
                    leads_set = await conn.fetchval(
                        checkpoints.TRY_LEAD, checkpoints.LEADER_SET_LOCK_CLASS, self._set_name
                    )
                for projection in self._projections if leads_set else ():
                    name = projection.name
                    if name in self.leading:
                        continue
                    if await conn.fetchval(
                        checkpoints.TRY_LEAD, checkpoints.LEADER_LOCK_CLASS, name
                    ):
                        log.info("leading projection", projection=name)
                        self.leading.add(name)
                        self._wake.set()  # its first round now, not at the next commit
                if follower is not None and follower.done():  # it failed: log it, start again
                    await self._reap(follower)
                    follower = None
                if follower is None and self.leading:
                    follower = asyncio.create_task(self._follow(), name="projections")
                await conn.fetchval("SELECT 1")  # the locks live as long as this connection
                await asyncio.sleep(self._lead_retry_s)
        finally:
            if follower is not None:
                follower.cancel()
                # Not `suppress(BaseException)`: that would also swallow the cancellation of
                # this task itself, and the projector would never stop.
                await asyncio.gather(follower, return_exceptions=True)
            self.leading.clear()
            with contextlib.suppress(Exception):
                await conn.close()

    async def _reap(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            if (error := task.exception()) is not None:
                log.error("projection runner failed; restarting", exc_info=error)

    async def _follow(self) -> None:
        marks: dict[str, Mark | None] = {}
        #: Projections whose own batch failed, and when to try them again: they run apart, so
        #: that one projection's bad batch (or bug) never holds up the others.
        apart: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            led = [p for p in self._projections if p.name in self.leading]
            groups = [[p for p in led if p.name not in apart]]
            groups += [[p] for p in led if p.name in apart and apart[p.name] <= loop.time()]
            behind = False
            read = 0  # events the round read (each group reads from its own checkpoints)
            for group in groups:  # grows while it runs: a failed group's members, one by one
                if not group:
                    continue
                try:
                    done = await apply_round(
                        self._pool, self._store, group, marks, self._batch_size
                    )
                except Exception:
                    for projection in group:  # the batch may or may not have committed
                        marks.pop(projection.name, None)
                    if len(group) > 1:
                        groups += [[p] for p in group]  # now one by one, to find which failed
                    else:
                        log.warning(
                            "projection batch failed; retrying",
                            projection=group[0].name,
                            exc_info=True,
                        )
                        apart[group[0].name] = loop.time() + self._poll_interval_s
                    continue
                marks.update(done.marks)
                if len(group) == 1:
                    apart.pop(group[0].name, None)  # its batch went through: back with the rest
                behind = behind or done.read >= self._batch_size
                read = max(read, done.read)
            if behind:
                continue  # read on at once
            # Caught up (a part batch), or lost a race: wait for the next commit. Reading again
            # at once would mostly find nothing, at a few statements a time; a commit that came
            # meanwhile has set `wake` already.
            woken = False
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the awaited event is set, and the projector
                # then never stops (https://github.com/python/cpython/issues/86296).
                async with asyncio.timeout(self._poll_interval_s):
                    await self._wake.wait()
                    woken = True
            if woken:
                # Woken by a commit: let the commits of the next moment come along too, one
                # batch for them all (LINGER_S; longer while the log is busy, BUSY_LINGER_S).
                # Outside the poll's timeout, which would cut a linger longer than itself.
                busy = read >= self._busy_round
                await asyncio.sleep(self._busy_linger_s if busy else self._linger_s)
