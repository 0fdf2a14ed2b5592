"""The narrow interface every event store adapter implements (PostgreSQL, memory).

One contract test suite (tests/contract/test_event_store.py) runs against every adapter, in the
manner of pyeventsourcing's recorder tests (eventsourcing/tests/persistence.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from registry.eventstore.model import (
    AppendResult,
    GateFence,
    Metadata,
    RecordedEvent,
    StreamAppend,
)
from registry.eventstore.personal import PersonalData, PersonalWrite

NO_METADATA = Metadata()


class EventStore(Protocol):
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
        """Write events to one or several streams atomically, each at its expected version.

        With a `command_id` seen before, return that first append's result (with `replayed`) and
        write nothing; with another `fingerprint` than the first, raise CommandIdReused. `answer`
        is stored with the command id and handed back on a replay. An append with no streams but
        a command id records only the command (an answer that wrote no events). With a `fence`,
        write only if the fence's epoch is still current (else StaleGateDecision). `personal`
        (a new participant's details, or their erasure) is written outside the log with the
        append, or not at all: not when it fails or is a replay; details for a participant who
        has some already make the whole append fail with InvalidAppend.
        """
        ...

    @property
    def personal(self) -> PersonalData:
        """The personal data kept beside the log (registry.eventstore.personal)."""
        ...

    async def read_stream(
        self, stream_id: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        """One stream's events from `from_version` on, in version order."""
        ...

    async def stream_types(self, stream_id: str) -> list[str]:
        """The types of one stream's events, in version order, without their data or metadata:
        what a check of a stream's state needs (a participant registered and not cancelled),
        at a fraction of `read_stream`'s cost on the sign-up path (bench/README.md)."""
        ...

    async def read_all(self, from_position: int = 1, limit: int = 1000) -> list[RecordedEvent]:
        """Events from `from_position` on, in global order, never past an event that may still
        commit with a smaller position (the fence)."""
        ...

    async def head(self) -> int:
        """The position of the last event a reader may see now (0 for an empty log)."""
        ...

    def subscribe(self, from_position: int = 1) -> AsyncIterator[RecordedEvent]:
        """Every event from `from_position` on, in global order, each once, waiting for more."""
        ...

    async def command_result(
        self, command_id: str, fingerprint: str | None = None
    ) -> AppendResult | None:
        """The stored result of a command id, if it was recorded; with a `fingerprint`, raise
        CommandIdReused if the command was recorded with another one."""
        ...

    async def stream_ids(self, prefix: str) -> list[str]:
        """The ids of every stream whose id starts with `prefix`, sorted."""
        ...

    async def read_streams(self, prefix: str) -> list[RecordedEvent]:
        """Every event of every stream whose id starts with `prefix`, in global order."""
        ...

    def iter_streams(self, prefix: str) -> AsyncGenerator[RecordedEvent, None]:
        """`read_streams`, streamed in one snapshot, a page of rows in memory at a time: a gate's
        rebuild folds every fact of an event's participants (250,000 of them held at once took
        a worker to 500 MB at start, bench/README.md)."""
        ...

    def gate_fence(self, key: str) -> AbstractAsyncContextManager[int]:
        """Advance the fence on `key` and hold it for the block; yields the new epoch.

        Appends fenced on `key` that are in flight finish first; new ones wait for the block to
        end; any carrying an older epoch then fail with StaleGateDecision. The capacity gate
        rebuilds an event inside this block, so no decision of the old gate lands afterwards.
        One `append` by the same task inside the block is part of it: it commits when the block
        ends without an error, and not at all otherwise (organisers' changes to seats decide on
        the log's seating and append it there: handlers/organiser_changes.py). The memory
        adapter, which has no transactions, keeps it even when the block fails.
        """
        ...
