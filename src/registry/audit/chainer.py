"""The chainer: one leader among all processes hashes the log into its chain (chain.py) and
publishes seals.

- **Only final events, in position order, never skipping one.** Appends commit out of position
  order, so each round takes the store's read fence first (`log_fence()`, migrations/0018) and
  then, in the next statement, reads the events after the last hashed position whose transaction
  is below it: that is a prefix of the log that can never grow in the middle (an append drawing
  a smaller position than one of these would hold a transaction id below the fence, and has
  finished: committed, so it is read, or rolled back, so its positions stay a gap for ever).
  Each event is linked to the previous *existing* one (`prev_position`), so gaps are stepped
  over, never waited for.
- **Once.** The hashes of a batch are inserted in one transaction; the table's keys (position,
  and prev_position: one successor each) refuse a second copy, and a chainer that meets one
  reloads where the chain stands and goes on from there.
- **Leadership.** A session advisory lock on a connection of the chainer's own, as the
  projector's (projections/runner.py): the connection that holds the lock does the work, so a
  leader whose connection died can write nothing more; a stand-by takes over within
  `lead_retry_s`.
- **Waking.** The store's NOTIFY channel, listened to on the leader's connection, with polling
  as the fallback; fast polling while committed events wait behind an append still open (no
  notification comes when it ends).
- **Seals.** Every `seal_every` events or `seal_interval_s` seconds (whichever comes first, at the
  end of a batch and only when something new was hashed) a row in `log_seals` with the last
  position and its hash, in the batch's transaction; also logged, so a copy leaves the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import asyncpg
import structlog

from registry.audit.chain import GENESIS, LoggedEvent, chain
from registry.dbtypes import Connection
from registry.eventstore.pg_queries import CHANNEL, FENCE, HELD_BACK

log = structlog.get_logger(__name__)

#: The session advisory lock of the chainer's leader: 'chain' in ASCII.
LEADER_LOCK: Final = 0x636861696E
BATCH_SIZE: Final = 5000
SEAL_EVERY: Final = 10_000
SEAL_INTERVAL_S: Final = 60.0
POLL_INTERVAL_S: Final = 1.0
HELD_BACK_POLL_S: Final = 0.02
#: How long a woken chainer waits before it reads, so that one round hashes the commits close
#: behind each other (projections/runner.py, LINGER_S, says why). Longer than the projector's:
#: nobody waits for a link (auditors check the chain later, seals come every minute at most).
LINGER_S: Final = 0.05
LEAD_RETRY_S: Final = 1.0

TRY_LEAD: Final = "SELECT pg_try_advisory_lock($1)"
# After the fence (read in the statement before, as FENCE): see the module's docstring.
READ_AFTER: Final = """
SELECT position, event_id, stream_id, stream_version, type, schema_version,
       data::text AS data, metadata::text AS metadata, recorded_at
  FROM events
 WHERE position > $1 AND transaction_id < $3::xid8
 ORDER BY position
 LIMIT $2
"""
# The chain's last link, or, when every hashed event was archived (their links left with them,
# migrations/0066), the hash of the last archived event.
LAST_LINK: Final = """
SELECT position, hash FROM (
    (SELECT position, hash FROM event_hashes ORDER BY position DESC LIMIT 1)
    UNION ALL
    (SELECT head_position, head_hash FROM log_archives ORDER BY first_position DESC LIMIT 1)
) l
 ORDER BY position DESC
 LIMIT 1
"""
LAST_SEAL: Final = "SELECT position FROM log_seals ORDER BY position DESC LIMIT 1"
INSERT_LINKS: Final = """
INSERT INTO event_hashes (position, hash, prev_position)
SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])
"""
INSERT_SEAL: Final = "INSERT INTO log_seals (position, hash) VALUES ($1, $2) RETURNING sealed_at"


@dataclass
class ChainState:
    """Where the chain stands: its last position and hash, and the last seal."""

    position: int = 0
    hash: bytes = GENESIS
    sealed_position: int = 0
    #: time.monotonic() of the last seal (or of loading: a restart does not seal at once).
    sealed_clock: float = 0.0


@dataclass(frozen=True)
class SealPolicy:
    every: int = SEAL_EVERY
    interval_s: float = SEAL_INTERVAL_S

    def due(self, state: ChainState, position: int, now: float) -> bool:
        if position <= state.sealed_position:
            return False
        return (
            position - state.sealed_position >= self.every
            or now - state.sealed_clock >= self.interval_s
        )


async def load_state(conn: Connection) -> ChainState:
    row = await conn.fetchrow(LAST_LINK)
    sealed = await conn.fetchval(LAST_SEAL)
    state = ChainState(sealed_position=sealed or 0, sealed_clock=time.monotonic())
    if row is not None:
        state.position, state.hash = row["position"], bytes(row["hash"])
    return state


async def chain_batch(
    conn: Connection,
    state: ChainState,
    *,
    batch_size: int = BATCH_SIZE,
    seals: SealPolicy | None = None,
) -> int:
    """Hash the next final events (at most `batch_size`), store them, seal if due; advances
    `state` and returns how many were hashed (0: the chain has reached the fence)."""
    seals = seals or SealPolicy()
    fence = await conn.fetchval(FENCE)  # first: the rows are read with a later snapshot
    rows = await conn.fetch(READ_AFTER, state.position, batch_size, fence)
    if not rows:
        if seals.due(state, state.position, time.monotonic()):
            await _seal(conn, state)
        return 0
    links = list(chain(map(LoggedEvent._make, rows), state.hash, state.position))
    last = links[-1]
    seal = seals.due(state, last.position, time.monotonic())
    async with conn.transaction():
        await conn.execute(
            INSERT_LINKS,
            [x.position for x in links],
            [x.hash for x in links],
            [x.prev_position for x in links],
        )
        sealed_at = await conn.fetchval(INSERT_SEAL, last.position, last.hash) if seal else None
    # Only once committed: a failed batch leaves the state where the table is.
    state.position, state.hash = last.position, last.hash
    if seal:
        _sealed(state, sealed_at)
    return len(links)


async def _seal(conn: Connection, state: ChainState) -> None:
    _sealed(state, await conn.fetchval(INSERT_SEAL, state.position, state.hash))


def _sealed(state: ChainState, sealed_at: object) -> None:
    state.sealed_position, state.sealed_clock = state.position, time.monotonic()
    # In the service's log too: a copy of every seal outside the database.
    log.info("log sealed", position=state.position, hash=state.hash.hex(), sealed_at=str(sealed_at))


class Chainer:
    """Runs the chain in this process whenever it can lead (one leader among all processes)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        batch_size: int = BATCH_SIZE,
        seals: SealPolicy | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        held_back_poll_s: float = HELD_BACK_POLL_S,
        lead_retry_s: float = LEAD_RETRY_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self._connect = connect
        self._linger_s = linger_s
        self._batch_size = batch_size
        self._seals = seals or SealPolicy()
        self._poll_interval_s = poll_interval_s
        self._held_back_poll_s = held_back_poll_s
        self._lead_retry_s = lead_retry_s
        self._wake = asyncio.Event()
        #: Whether this process leads now, and where its chain stands (for status and tests).
        self.leading = False
        self.state: ChainState | None = None

    async def run(self) -> None:
        """Until cancelled: lead when the lock is free, chain, take over when a leader drops."""
        while True:
            try:
                await self._lead()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("chainer lost its connection", exc_info=True)
            await asyncio.sleep(self._lead_retry_s)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _lead(self) -> None:
        conn = await self._connect()
        try:
            while True:  # a stand-by: the lock is tried again, the connection kept alive
                if await conn.fetchval(TRY_LEAD, LEADER_LOCK):
                    break
                await asyncio.sleep(self._lead_retry_s)
            log.info("leading the hash chain")
            self.leading = True
            # Woken on the leader's own connection: stand-bys need no wake-ups, and no pooled
            # connection is held for it (a small pool would lose one for good).
            await conn.add_listener(CHANNEL, self._notified)
            self.state = await load_state(conn)
            await self._follow(conn, self.state)
        finally:
            self.leading = False
            with contextlib.suppress(Exception):
                await conn.close()

    async def _follow(self, conn: Connection, state: ChainState) -> None:
        while True:
            self._wake.clear()
            try:
                hashed = await chain_batch(
                    conn, state, batch_size=self._batch_size, seals=self._seals
                )
            except asyncpg.UniqueViolationError:
                # Someone else wrote links (an import, a second chainer by mistake): carry on
                # from where the table stands, never from our own idea of it.
                log.warning("chain moved under the chainer; reloading", exc_info=True)
                fresh = await load_state(conn)
                state.position, state.hash = fresh.position, fresh.hash
                state.sealed_position = fresh.sealed_position
                continue
            if hashed == self._batch_size:
                continue
            held_back = await conn.fetchval(HELD_BACK, state.position + 1)
            timeout = self._held_back_poll_s if held_back else self._poll_interval_s
            if state.position > state.sealed_position:
                until_seal = state.sealed_clock + self._seals.interval_s - time.monotonic()
                timeout = max(0.0, min(timeout, until_seal))
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for (see projections/runner.py).
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
                    await asyncio.sleep(self._linger_s)  # as the projector (runner.LINGER_S)
