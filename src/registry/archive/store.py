"""An event store that reads archived positions from their files (registry.archive.files) and
the rest from the database: what `registry projections rebuild` and `registry verify` read the
whole log with once part of it is archived. The service's own store does not: a read that
reaches archived history there fails with ArchivedHistory (registry.eventstore.archived).

Each file is checked against its record (SHA-256 and size) before its first event is handed
out; a missing or changed file raises ArchiveUnreadable naming it. Reading is sequential, as
rebuilds and verify read: a read that continues where the last one ended goes on in the open
file, any other starts again from the first archive.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import asyncpg
import msgspec

from registry.archive.files import ArchiveUnreadable, digest, event_lines
from registry.archive.records import Archive, load_archives
from registry.audit import log_file
from registry.eventstore import EventCodec, Metadata, RecordedEvent
from registry.eventstore.postgres import PostgresEventStore

_metadata: Final = msgspec.json.Decoder(Metadata)


class ArchiveReadingStore(PostgresEventStore):
    def __init__(
        self,
        pool: asyncpg.Pool,
        codec: EventCodec,
        *,
        directory: Path | None = None,
        **options: Any,
    ) -> None:
        super().__init__(pool, codec, **options)
        #: Where the files are, when not where the archive wrote them.
        self.directory = directory
        self._archives: list[Archive] | None = None
        self._lines: Iterator[log_file.EventLine] | None = None
        self._next = 0  # the position the open reading continues from

    async def archives(self) -> list[Archive]:
        if self._archives is None:
            async with self._pool.acquire() as conn:
                self._archives = await load_archives(conn)
        return self._archives

    async def read_all(self, from_position: int = 1, limit: int = 1000) -> list[RecordedEvent]:
        archives = await self.archives()
        end = archives[-1].last_position if archives else 0
        if from_position > end:
            return await super().read_all(from_position, limit)
        events = self._from_files(archives, max(from_position, 1), limit)
        if len(events) < limit:
            events += await super().read_all(end + 1, limit - len(events))
        return events

    def _from_files(self, archives: list[Archive], start: int, limit: int) -> list[RecordedEvent]:
        if self._lines is None or start != self._next:
            self._lines = self._all_lines(archives)
        events: list[RecordedEvent] = []
        for line in self._lines:
            if line.position < start:
                continue
            events.append(self._recorded_line(line))
            self._next = line.position + 1
            if len(events) == limit:
                return events
        self._lines = None  # every archive read
        return events

    def _all_lines(self, archives: list[Archive]) -> Iterator[log_file.EventLine]:
        for archive in archives:
            path = archive.path(self.directory)
            where = f"archive {archive.describe()}"
            if not path.is_file():
                raise ArchiveUnreadable(f"{where}: no file at {path}", archive.first_position)
            if digest(path) != (archive.sha256, archive.bytes):
                raise ArchiveUnreadable(
                    f"{where}: {path} is not the file archived", archive.first_position
                )
            yield from event_lines(path)

    def _recorded_line(self, line: log_file.EventLine) -> RecordedEvent:
        return RecordedEvent(
            position=line.position,
            event_id=uuid.UUID(line.event_id),
            stream_id=line.stream_id,
            stream_version=line.stream_version,
            type=line.type,
            schema_version=line.schema_version,
            event=self._codec.decode(line.type, line.schema_version, bytes(line.data)),
            metadata=_metadata.decode(bytes(line.metadata)),
            recorded_at=dt.datetime.fromisoformat(line.recorded_at),
        )
