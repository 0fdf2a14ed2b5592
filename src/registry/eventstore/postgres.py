"""The event store on PostgreSQL: one `events` table, written only by the append_events function
(migrations/0004_append_events.sql), read in global order behind a transaction-id fence."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextvars import ContextVar
from typing import Any, Final

import asyncpg
import msgspec
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from registry.dbtypes import Connection
from registry.eventstore import clean_release
from registry.eventstore.archived import (
    ARCHIVED_BEFORE,
    ARCHIVED_FROM,
    ARCHIVED_STREAM,
    refuse_archived,
    streams_begin,
)
from registry.eventstore.batcher import MAX_COMMANDS, AppendBatcher
from registry.eventstore.codec import EventCodec
from registry.eventstore.command_lookups import CommandLookups
from registry.eventstore.errors import CommandIdReused
from registry.eventstore.listener import NotificationListener
from registry.eventstore.model import (
    AppendResult,
    GateFence,
    Metadata,
    RecordedEvent,
    StreamAppend,
)
from registry.eventstore.personal import ParticipantDetails, PersonalWrite
from registry.eventstore.personal_pg import PostgresPersonalData, append_row
from registry.eventstore.pg_outcomes import (
    WRONG_VERSION,
    appended,
    refusal,
    replay,
    stored_command,
)
from registry.eventstore.pg_queries import (
    APPEND,
    CHANNEL,
    FENCE,
    FENCE_ADVANCE,
    FENCE_LOCK,
    FENCE_NEXT,
    GATE_LOCK_CLASS,
    HEAD,
    HELD_BACK,
    READ_ALL,
    READ_PREFIX,
    READ_STREAM,
    STREAM_IDS,
    STREAM_TYPES,
)
from registry.eventstore.prepare import PreparedAppend, prepare
from registry.eventstore.store import NO_METADATA

#: Rows a streamed read (iter_streams) holds at a time.
STREAMED_ROWS: Final = 2000
_TRANSIENT = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)

_metadata_decoder = msgspec.json.Decoder(Metadata)


class PostgresEventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        codec: EventCodec,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        held_back_poll: float = 0.02,
        append_batch: int = MAX_COMMANDS,
        append_batches_in_flight: int = 1,
    ) -> None:
        self._pool = pool
        self._command_lookups = CommandLookups(pool)
        #: Group commit (batcher.py); `append_batch=0` appends every command alone.
        self.batcher = (
            AppendBatcher(
                pool,
                self._append_alone,
                max_commands=append_batch,
                max_in_flight=append_batches_in_flight,
            )
            if append_batch > 0
            else None
        )
        self._codec = codec
        self.personal = PostgresPersonalData(pool)
        #: The connection holding this task's gate fence, if any (see `_reader`).
        #: (task, connection): a task started inside the fence inherits the context but is
        #: not part of the block, and must not share its connection.
        self._fence_connection: ContextVar[tuple[object, Connection] | None] = ContextVar(
            f"gate-fence-{id(self)}", default=None
        )
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._held_back_poll = held_back_poll

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        metadata: Metadata = NO_METADATA,
        command_id: str | None = None,
        fingerprint: str | None = None,
        answer: bytes | None = None,
        fence: GateFence | None = None,
        personal: Sequence[PersonalWrite] = (),
    ) -> AppendResult:
        prepared = prepare(
            self._codec,
            appends,
            metadata=metadata,
            command_id=command_id,
            fingerprint=fingerprint,
            answer=answer,
            fence=fence,
        )
        held = self._fence_held()
        if held is not None:
            # Inside this task's gate fence: on its connection, in a savepoint (a refusal must
            # not abort the fence), committed with the fence. Another pooled connection could
            # wait for ever behind appends queued on the fence's lock (see `_reader`).
            async with held.transaction():
                return await self.append_prepared(held, prepared, personal)
        details = [w for w in personal if isinstance(w, ParticipantDetails)]
        if self.batcher is not None and len(details) == len(personal):
            # A registration's details go in its command's subtransaction of the batch
            # (append_batch, migrations/0069); an erasure's tombstone (an upsert) goes alone.
            return await self.batcher.append(prepared, details)
        async with self._pool.acquire() as conn:
            return await self.append_prepared(conn, prepared, personal)

    async def _append_alone(
        self, prepared: PreparedAppend, details: Sequence[ParticipantDetails] = ()
    ) -> AppendResult:
        async with self._pool.acquire() as conn:
            return await self.append_prepared(conn, prepared, details)

    async def append_on(
        self,
        conn: Connection,
        appends: Sequence[StreamAppend],
        *,
        metadata: Metadata = NO_METADATA,
        command_id: str | None = None,
        fence: GateFence | None = None,
    ) -> AppendResult:
        """Append on the caller's connection, inside the caller's transaction if one is open
        (the append must then be the transaction's first write)."""
        prepared = prepare(
            self._codec,
            appends,
            metadata=metadata,
            command_id=command_id,
            fingerprint=None,
            answer=None,
            fence=fence,
        )
        return await self.append_prepared(conn, prepared)

    async def append_prepared(
        self, conn: Connection, prepared: PreparedAppend, personal: Sequence[PersonalWrite] = ()
    ) -> AppendResult:
        try:
            row = await append_row(conn, APPEND, _arguments(prepared), personal)
        except asyncpg.UniqueViolationError as error:
            if prepared.command_id is None or error.constraint_name != "commands_pkey":
                raise
            return await self._twin_result(conn, prepared)
        except asyncpg.PostgresError as error:
            if error.sqlstate == WRONG_VERSION and prepared.command_id is not None:
                # A twin of this command may have won the stream lock; its result stands.
                twin = await stored_command(conn, prepared.command_id)
                if twin is not None:
                    return replay(prepared, twin)
            typed = refusal(error.sqlstate or "", error.detail, str(error))
            if typed is None:
                raise
            raise typed from None
        assert row is not None
        return appended(row)

    async def _twin_result(self, conn: Connection, prepared: PreparedAppend) -> AppendResult:
        assert prepared.command_id is not None
        stored = await stored_command(conn, prepared.command_id)
        assert stored is not None, "a unique violation on commands_pkey means the row exists"
        return replay(prepared, stored)

    async def command_result(
        self, command_id: str, fingerprint: str | None = None
    ) -> AppendResult | None:
        stored = await self._command_lookups.stored(command_id)  # gathered per loop turn
        if stored is None:
            return None
        if fingerprint is not None and stored[0] != fingerprint:
            raise CommandIdReused(command_id)
        return stored[1]

    def _fence_held(self) -> Connection | None:
        """The connection of the gate fence this very task holds, if any."""
        held = self._fence_connection.get()
        if held is None or held[0] is not asyncio.current_task():
            return None
        return held[1]

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[Connection]:
        """A connection to read with: inside gate_fence (same task), the fence's own one. The
        rebuild reads the log while holding the fence, and new appends queue behind the fence's
        lock holding pool connections: reading on a second pooled connection could wait for one
        of them for ever (seen under 64 concurrent sign-ups with a pool of 20)."""
        held = self._fence_held()
        if held is not None:
            yield held
            return
        async with self._pool.acquire() as conn:
            yield conn
            # Reached only when the reading raised nothing: reads leave nothing to reset.
            clean_release.mark_clean(conn)

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        async with self._reader() as conn:
            rows = await conn.fetch(READ_STREAM, stream_id, from_version, limit)
            if not rows:
                version = max(from_version, 1)
                await refuse_archived(
                    conn, ARCHIVED_STREAM, version, stream_id, stream_id=stream_id
                )
            elif rows[0]["stream_version"] > max(from_version, 1):
                first = rows[0]["position"]
                await refuse_archived(conn, ARCHIVED_BEFORE, first, stream_id=stream_id)
        return [self._recorded(row) for row in rows]

    async def stream_types(self, stream_id: str) -> list[str]:
        async with self._reader() as conn:
            rows = await conn.fetch(STREAM_TYPES, stream_id)
            # As read_stream: a stream whose history was archived is named, never taken for
            # one that does not exist (or that starts later).
            if not rows:
                await refuse_archived(conn, ARCHIVED_STREAM, 1, stream_id, stream_id=stream_id)
            elif rows[0]["stream_version"] > 1:
                first = rows[0]["position"]
                await refuse_archived(conn, ARCHIVED_BEFORE, first, stream_id=stream_id)
        return [row["type"] for row in rows]

    async def read_all(self, from_position: int = 1, limit: int = 1000) -> list[RecordedEvent]:
        async with self._pool.acquire() as conn:
            fence = await conn.fetchval(FENCE)  # first: the rows are read in a later snapshot
            rows = await conn.fetch(READ_ALL, from_position, limit, fence)
            if not rows or rows[0]["position"] > max(from_position, 1):
                await refuse_archived(conn, ARCHIVED_FROM, from_position)
            clean_release.mark_clean(conn)  # reads only: nothing for the pool to reset
        return [self._recorded(row) for row in rows]

    async def head(self) -> int:
        async with self._pool.acquire() as conn:
            head: int = await conn.fetchval(HEAD)
        return head

    async def stream_ids(self, prefix: str) -> list[str]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(STREAM_IDS, _like_prefix(prefix))
        return [row["stream_id"] for row in rows]

    async def read_streams(self, prefix: str) -> list[RecordedEvent]:
        async with self._reader() as conn:
            rows = await conn.fetch(READ_PREFIX, _like_prefix(prefix))
            await streams_begin(conn, rows)
        return [self._recorded(row) for row in rows]

    async def iter_streams(self, prefix: str) -> AsyncGenerator[RecordedEvent, None]:
        async with self._reader() as conn, contextlib.AsyncExitStack() as stack:
            # A cursor lives in a transaction (inside a gate fence, the fence's); its one
            # statement reads one snapshot of the log however many pages it fetches.
            if not conn.is_in_transaction():
                await stack.enter_async_context(conn.transaction(readonly=True))
            begun: set[str] = set()
            like = _like_prefix(prefix)
            async for row in conn.cursor(READ_PREFIX, like, prefetch=STREAMED_ROWS):
                await streams_begin(conn, [row], begun)
                yield self._recorded(row)

    @contextlib.asynccontextmanager
    async def gate_fence(self, key: str) -> AsyncIterator[int]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(FENCE_LOCK, GATE_LOCK_CLASS, key)
            epoch: int = await conn.fetchval(FENCE_NEXT, key)
            token = self._fence_connection.set((asyncio.current_task(), conn))
            try:
                yield epoch
            finally:
                self._fence_connection.reset(token)
            advanced = await conn.fetchval(FENCE_ADVANCE, key)
            assert advanced == epoch, "the fence's lock keeps every other fence out"

    async def subscribe(self, from_position: int = 1) -> AsyncIterator[RecordedEvent]:
        wake = asyncio.Event()
        listener = NotificationListener(self._pool, CHANNEL, wake)
        await listener.start()
        position = max(from_position, 1)
        try:
            while True:
                wake.clear()
                batch = await self._retrying(self.read_all, position, self._batch_size)
                for event in batch:
                    yield event
                    position = event.position + 1
                if len(batch) == self._batch_size:
                    continue
                # Committed events waiting behind an older open transaction are released without
                # a notification when that transaction ends: poll fast while there are some.
                held_back = await self._retrying(self._held_back, position)
                timeout = self._held_back_poll if held_back else self._poll_interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):  # not wait_for: see runner._follow
                        await wake.wait()
        finally:
            await listener.close()

    async def _held_back(self, position: int) -> bool:
        async with self._pool.acquire() as conn:
            held: bool = await conn.fetchval(HELD_BACK, position)
            clean_release.mark_clean(conn)
        return held

    async def _retrying(self, fn: Any, *args: Any) -> Any:
        # Reads are safe to repeat; a dropped connection should not end a subscription.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(60),
            reraise=True,
        ):
            with attempt:
                return await fn(*args)
        raise AssertionError("unreachable")

    def _recorded(self, row: asyncpg.Record) -> RecordedEvent:
        return RecordedEvent(
            position=row["position"],
            event_id=row["event_id"],
            stream_id=row["stream_id"],
            stream_version=row["stream_version"],
            type=row["type"],
            schema_version=row["schema_version"],
            event=self._codec.decode(row["type"], row["schema_version"], row["data"]),
            metadata=_metadata_decoder.decode(row["metadata"]),
            recorded_at=row["recorded_at"],
        )


def _like_prefix(prefix: str) -> str:
    """Escape LIKE's wildcards so that the prefix is matched literally."""
    return prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _arguments(prepared: PreparedAppend) -> tuple[Any, ...]:
    events = prepared.events
    return (
        prepared.command_id,
        prepared.fingerprint,
        None if prepared.answer is None else prepared.answer.decode(),
        prepared.metadata.decode(),
        list(prepared.streams),
        list(prepared.expected),
        [e.stream_index + 1 for e in events],
        [e.event_id for e in events],
        [e.type for e in events],
        [e.schema_version for e in events],
        [e.data.decode() for e in events],
        None if prepared.fence is None else prepared.fence.key,
        None if prepared.fence is None else prepared.fence.epoch,
    )
