"""`registry import FILE`: an export (log_file.py) into an empty, migrated database.

All in one transaction, as the database's owner (not the service's role, which may not write
the log directly): the log's tables are locked against appends, found empty, and filled with
COPY; the chain is computed again from the events as they are read and must give every hash and
seal the file holds (a file that does not is refused at its first bad position and nothing is
written); events the source had not hashed yet get their hashes here, the same ones its chainer
would have computed. Then the rows kept beside the log, each stream's version, and the position
sequence.

Every imported row carries the importing transaction's id: ids of the source mean nothing here,
and one id below every later append's keeps the read fence exact (migrations/0018). Facts that
notify were put in the outbox by its trigger; they are marked fanned out, so the import announces
no history to webhooks. Read models are not imported: the projector builds them from the log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import msgspec

from registry.audit import log_file
from registry.audit.chain import CHAIN_FORMAT, GENESIS, LoggedEvent, link
from registry.dbtypes import Connection
from registry.migrations import pending_migrations

BATCH: Final = 5000
EVENT_COLUMNS: Final = (
    "position", "event_id", "stream_id", "stream_version", "type", "schema_version", "data",
    "metadata", "recorded_at", "transaction_id",
)  # fmt: skip
LOG_TABLES: Final = ("events", "streams", "event_hashes", "log_seals")
# EXCLUSIVE: reads go on, appends wait (and then fail on a position taken here).
LOCK: Final = "LOCK TABLE events, streams, event_hashes, log_seals IN EXCLUSIVE MODE"
TABLE_EXISTS: Final = "SELECT to_regclass($1) IS NOT NULL"
# Table names come from LOG_TABLES and log_file.BESIDE only.
ANY_ROW: Final = "SELECT EXISTS (SELECT 1 FROM {table})"
INSERT_ROWS: Final = "INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1)"
TRANSACTION_ID: Final = "SELECT pg_current_xact_id()"
SET_POSITION: Final = "SELECT setval('events_position_seq', $1)"
QUIET_OUTBOX: Final = (
    "UPDATE outbox SET fanned_out_at = clock_timestamp() WHERE fanned_out_at IS NULL"
)


class ImportRefused(Exception):
    """The file or the database is not fit for an import; nothing was written."""


@dataclass
class Imported:
    events: int = 0
    hashed_here: int = 0
    seals: int = 0
    last_position: int = 0
    rows: dict[str, int] = field(default_factory=dict)


async def import_log(
    conn: Connection,
    lines: Iterable[bytes],
    *,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Imported:
    """Import the file's `lines`; raises ImportRefused (and writes nothing) if they are not a
    whole, consistent export or the database is not empty and migrated."""
    if await pending_migrations(conn):
        raise ImportRefused("the database needs its migrations first (`registry migrate`)")
    numbered = enumerate(lines, start=1)
    header = _decode(next(numbered, (1, b"")))
    if not isinstance(header, log_file.Header) or header.format != log_file.FORMAT:
        raise ImportRefused("line 1: not a registry export (no header)")
    if header.version != log_file.VERSION or header.chain != CHAIN_FORMAT:
        raise ImportRefused(
            f"export version {header.version} with chain {header.chain!r} is not known here "
            f"(version {log_file.VERSION}, chain {CHAIN_FORMAT!r})"
        )
    if on_start is not None:
        on_start(header.events)
    async with conn.transaction():
        await conn.execute(LOCK)
        beside = await _check_empty(conn)
        loader = _Loader(conn, await conn.fetchval(TRANSACTION_ID), beside, on_progress)
        end = await loader.load(numbered)
        await loader.finish(header, end)
    return loader.done


async def _check_empty(conn: Connection) -> set[str]:
    """Refuse unless every table an import fills is empty; the tables beside the log there are."""
    beside = {t for t in log_file.BESIDE if await conn.fetchval(TABLE_EXISTS, t)}
    for table in (*LOG_TABLES, *sorted(beside)):
        if await conn.fetchval(ANY_ROW.format(table=table)):
            raise ImportRefused(
                f"the database is not empty ({table} has rows): import needs a new, migrated "
                "database"
            )
    return beside


class _Loader:
    def __init__(
        self,
        conn: Connection,
        xid: Any,
        beside: set[str],
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.conn = conn
        self.xid = xid
        self.beside = beside
        self.on_progress = on_progress
        self.done = Imported()
        self.seals: list[log_file.SealLine] = []
        self.versions: dict[str, int] = {}
        self.events: list[tuple[Any, ...]] = []
        self.links: list[tuple[int, bytes, int]] = []
        self.rows: dict[str, list[bytes]] = {}
        self.prev_position, self.prev_hash = 0, GENESIS
        self.unhashed: int | None = None
        self.next_seal = 0

    async def load(self, numbered: Iterable[tuple[int, bytes]]) -> log_file.End:
        phase = 0  # seals, events, rows, in this order
        for number, raw in numbered:
            line = _decode((number, raw))
            kind = _PHASES.get(type(line))
            if kind is None or kind < phase:
                raise ImportRefused(f"line {number}: a {type(line).__name__} line out of place")
            phase = kind
            if isinstance(line, log_file.SealLine):
                self.seals.append(line)
            elif isinstance(line, log_file.EventLine):
                self._event(line)
                if len(self.events) >= BATCH:
                    await self._flush()
            elif isinstance(line, log_file.RowLine):
                await self._row(number, line)
            elif isinstance(line, log_file.End):
                await self._flush()
                return line
        raise ImportRefused("the file ends without its end line (truncated?)")

    def _event(self, line: log_file.EventLine) -> None:
        position = line.position
        if position <= self.prev_position:
            raise ImportRefused(f"position {position} comes after {self.prev_position}")
        event = LoggedEvent(
            position, line.event_id, line.stream_id, line.stream_version, line.type,
            line.schema_version, bytes(line.data), bytes(line.metadata),
            dt.datetime.fromisoformat(line.recorded_at),
        )  # fmt: skip
        computed = link(self.prev_hash, event)
        if line.hash is None:
            self.unhashed = self.unhashed or position
            self.done.hashed_here += 1
        elif self.unhashed is not None:
            _bad(self.unhashed, "event not in the chain: no hash, but events after it have one")
        elif (line.prev_position or 0) > self.prev_position:
            _bad(line.prev_position or 0, "event missing from the file (the next links to it)")
        elif line.prev_position != self.prev_position:
            _bad(self.prev_position, "event not in the chain (the next links past it)")
        elif computed.hex() != line.hash:
            _bad(position, "data changed: the event does not match its hash")
        # Each stream numbered 1, 2, 3, ... in position order, as appends number them: the
        # partitioned log has no unique index on (stream_id, stream_version) to catch a file
        # whose chain was computed over a repeated or skipped version (migrations/0065).
        follows = self.versions.get(line.stream_id, 0) + 1
        if line.stream_version != follows:
            _bad(
                position,
                f"stream {line.stream_id} at version {line.stream_version} where {follows} "
                "comes next",
            )
        while self.next_seal < len(self.seals) and self.seals[self.next_seal].position <= position:
            seal = self.seals[self.next_seal]
            if seal.position != position or seal.hash != computed.hex():
                _bad(seal.position, "the chain does not reach the seal there")
            self.next_seal += 1
        self.events.append(
            (position, uuid.UUID(line.event_id), line.stream_id, line.stream_version, line.type,
             line.schema_version, bytes(line.data).decode(), bytes(line.metadata).decode(),
             event.recorded_at, self.xid)
        )  # fmt: skip
        self.links.append((position, computed, self.prev_position))
        self.versions[line.stream_id] = line.stream_version
        self.prev_position, self.prev_hash = position, computed

    async def _flush(self) -> None:
        if not self.events:
            return
        await self.conn.copy_records_to_table("events", records=self.events, columns=EVENT_COLUMNS)
        await self.conn.copy_records_to_table(
            "event_hashes", records=self.links, columns=("position", "hash", "prev_position")
        )
        self.done.events += len(self.events)
        self.done.last_position = self.events[-1][0]
        self.events.clear()
        self.links.clear()
        if self.on_progress is not None:
            self.on_progress(self.done.events)

    async def _row(self, number: int, line: log_file.RowLine) -> None:
        await self._flush()
        if line.table not in self.beside:
            raise ImportRefused(
                f"line {number}: rows of {line.table!r}, a table this database lacks"
            )
        pending = self.rows.setdefault(line.table, [])
        pending.append(bytes(line.row))
        if len(pending) >= BATCH:
            await self._insert(line.table)

    async def _insert(self, table: str) -> None:
        pending = self.rows.get(table, [])
        if pending:
            await self.conn.execute(
                INSERT_ROWS.format(table=table), (b"[" + b",".join(pending) + b"]").decode()
            )
            self.done.rows[table] = self.done.rows.get(table, 0) + len(pending)
            pending.clear()

    async def finish(self, header: log_file.Header, end: log_file.End) -> None:
        for table in list(self.rows):
            await self._insert(table)
        if self.next_seal < len(self.seals):
            _bad(self.seals[self.next_seal].position, "a seal beyond the last event")
        said = {table: n for table, n in end.rows.items() if n}  # tables of no rows: no lines
        counted = (self.done.events, len(self.seals), self.done.rows)
        if counted != (header.events, header.seals, said) or (end.events, end.seals) != (
            header.events,
            header.seals,
        ):
            raise ImportRefused(
                f"the file holds {counted[0]} events, {counted[1]} seals and rows {counted[2]}; "
                f"its header and end say {header.events}, {header.seals} and {end.rows}"
            )
        await self.conn.copy_records_to_table(
            "log_seals",
            records=[(s.position, bytes.fromhex(s.hash), dt.datetime.fromisoformat(s.sealed_at))
                     for s in self.seals],
            columns=("position", "hash", "sealed_at"),
        )  # fmt: skip
        await self.conn.copy_records_to_table(
            "streams", records=list(self.versions.items()), columns=("stream_id", "version")
        )
        self.done.seals = len(self.seals)
        if self.done.events:
            await self.conn.execute(SET_POSITION, self.done.last_position)
        if await self.conn.fetchval(TABLE_EXISTS, "outbox"):
            await self.conn.execute(QUIET_OUTBOX)


_PHASES: Final[dict[type, int]] = {
    log_file.SealLine: 0,
    log_file.EventLine: 1,
    log_file.RowLine: 2,
    log_file.End: 3,
}


def _decode(numbered: tuple[int, bytes]) -> log_file.Line:
    number, raw = numbered
    try:
        line: log_file.Line = log_file.decoder.decode(raw)
    except msgspec.DecodeError as error:
        raise ImportRefused(f"line {number}: {error}") from None
    return line


def _bad(position: int, what: str) -> NoReturn:
    raise ImportRefused(f"first bad position: {position}: {what}; nothing was imported")
