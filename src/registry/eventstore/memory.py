"""An in-memory event store: the reference the PostgreSQL adapter is held to, and a fast double
for unit tests. One process, one event loop; appends are atomic under an asyncio lock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime

import msgspec

from registry.eventstore.codec import EventCodec
from registry.eventstore.errors import CommandIdReused, StaleGateDecision, WrongExpectedVersion
from registry.eventstore.model import (
    AppendResult,
    GateFence,
    Metadata,
    RecordedEvent,
    StreamAppend,
)
from registry.eventstore.personal import MemoryPersonalData, PersonalWrite
from registry.eventstore.prepare import prepare
from registry.eventstore.store import NO_METADATA


class _Command(msgspec.Struct, frozen=True):
    fingerprint: str | None
    result: AppendResult


class MemoryEventStore:
    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._commands: dict[str, _Command] = {}
        self.personal = MemoryPersonalData()
        self._lock = asyncio.Lock()
        self._epochs: dict[str, int] = {}
        self._grown = asyncio.Condition()
        #: The task holding a gate fence (a task it starts inherits the context, not the fence).
        self._in_fence: ContextVar[object] = ContextVar(f"in-fence-{id(self)}", default=None)

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
        # Inside this task's own gate fence the lock is held already (asyncio's is not
        # reentrant); such an append is part of the fence's block, as in PostgreSQL.
        held = self._in_fence.get() is asyncio.current_task() is not None
        async with contextlib.nullcontext() if held else self._lock:
            if command_id is not None and command_id in self._commands:
                known = self._commands[command_id]
                if known.fingerprint != fingerprint:
                    raise CommandIdReused(command_id)
                return msgspec.structs.replace(known.result, replayed=True)
            if fence is not None and self._epochs.get(fence.key) != fence.epoch:
                raise StaleGateDecision(fence.key, fence.epoch, self._epochs.get(fence.key))
            for stream_id, expected in zip(prepared.streams, prepared.expected, strict=True):
                actual = len(self._streams.get(stream_id, ()))
                if expected is not None and expected != actual:
                    raise WrongExpectedVersion(stream_id, expected, actual)
            self.personal.check(personal)
            now = datetime.now(UTC)
            next_version = [len(self._streams.get(s, ())) for s in prepared.streams]
            written: list[RecordedEvent] = []
            for prepared_event in prepared.events:
                stream_id = prepared.streams[prepared_event.stream_index]
                next_version[prepared_event.stream_index] += 1
                recorded = RecordedEvent(
                    position=len(self._log) + len(written) + 1,
                    event_id=prepared_event.event_id,
                    stream_id=stream_id,
                    stream_version=next_version[prepared_event.stream_index],
                    type=prepared_event.type,
                    schema_version=prepared_event.schema_version,
                    # Decode what was encoded, as the PostgreSQL adapter does on read.
                    event=self._codec.decode(
                        prepared_event.type, prepared_event.schema_version, prepared_event.data
                    ),
                    metadata=metadata,
                    recorded_at=now,
                )
                written.append(recorded)
            for recorded in written:
                self._log.append(recorded)
                self._streams.setdefault(recorded.stream_id, []).append(recorded)
            positions = tuple(e.position for e in written)
            result = AppendResult(
                positions=positions,
                position=positions[-1] if positions else len(self._log),
                stream_versions=tuple(next_version),
                answer=answer,
            )
            if command_id is not None:
                self._commands[command_id] = _Command(fingerprint, result)
            self.personal.write(personal)
        if written:
            async with self._grown:
                self._grown.notify_all()
        return result

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        events = self._streams.get(stream_id, [])[max(from_version, 1) - 1 :]
        return list(events if limit is None else events[:limit])

    async def stream_types(self, stream_id: str) -> list[str]:
        return [e.type for e in self._streams.get(stream_id, [])]

    async def read_all(self, from_position: int = 1, limit: int = 1000) -> list[RecordedEvent]:
        start = max(from_position, 1) - 1
        return self._log[start : start + limit]

    async def head(self) -> int:
        return len(self._log)

    async def subscribe(self, from_position: int = 1) -> AsyncIterator[RecordedEvent]:
        position = max(from_position, 1)
        while True:
            batch = await self.read_all(position)
            for event in batch:
                yield event
                position = event.position + 1
            if not batch:
                async with self._grown:
                    await self._grown.wait_for(self._longer_than(position - 1))

    async def stream_ids(self, prefix: str) -> list[str]:
        return sorted(s for s in self._streams if s.startswith(prefix))

    async def read_streams(self, prefix: str) -> list[RecordedEvent]:
        return [e for e in self._log if e.stream_id.startswith(prefix)]

    async def iter_streams(self, prefix: str) -> AsyncGenerator[RecordedEvent, None]:
        for event in await self.read_streams(prefix):
            yield event

    @contextlib.asynccontextmanager
    async def gate_fence(self, key: str) -> AsyncIterator[int]:
        async with self._lock:  # appends wait for the block, as in PostgreSQL
            self._epochs[key] = self._epochs.get(key, 0) + 1
            token = self._in_fence.set(asyncio.current_task())
            try:
                yield self._epochs[key]
            finally:
                self._in_fence.reset(token)

    def _longer_than(self, length: int) -> Callable[[], bool]:
        return lambda: len(self._log) > length

    async def command_result(
        self, command_id: str, fingerprint: str | None = None
    ) -> AppendResult | None:
        known = self._commands.get(command_id)
        if known is None:
            return None
        if fingerprint is not None and known.fingerprint != fingerprint:
            raise CommandIdReused(command_id)
        return msgspec.structs.replace(known.result, replayed=True)
