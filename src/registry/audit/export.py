"""`registry export`: the log, its chain and seals, and the rows kept beside it, into the file
described in log_file.py; streamed in batches from one snapshot.

The fence is taken first, on its own, and the snapshot afterwards (REPEATABLE READ): every append
below the fence had finished before the snapshot was taken, so the export holds all of them and
nothing an append still open could later come before (migrations/0018).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final

import msgspec

from registry.audit import log_file
from registry.audit.chain import CHAIN_FORMAT, recorded_at_text
from registry.dbtypes import Connection
from registry.eventstore.pg_queries import FENCE

BATCH: Final = 5000

COUNT_BELOW: Final = """
SELECT count(*) AS events, coalesce(max(position), 0) AS last
  FROM events WHERE transaction_id < $1::xid8
"""
SEALS_UP_TO: Final = """
SELECT position, hash, sealed_at FROM log_seals WHERE position <= $1 ORDER BY position
"""
EVENTS_BELOW: Final = """
SELECT e.position, e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version,
       e.data::text AS data, e.metadata::text AS metadata, e.recorded_at,
       e.transaction_id::text AS transaction_id, h.hash, h.prev_position
  FROM events e LEFT JOIN event_hashes h ON h.position = e.position
 WHERE e.transaction_id < $1::xid8
 ORDER BY e.position
"""
TABLE_EXISTS: Final = "SELECT to_regclass($1) IS NOT NULL"
# The table names come from log_file.BESIDE only, never from input.
ROWS_OF: Final = "SELECT row_to_json(t)::text AS row FROM {table} t {where}"


@dataclass
class Exported:
    events: int = 0
    seals: int = 0
    last_position: int = 0
    rows: dict[str, int] = field(default_factory=dict)


async def export_log(
    conn: Connection,
    out: IO[bytes],
    *,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    personal_data: bool = False,
) -> Exported:
    """Write the export to `out`; `on_start` gets the number of events, `on_progress` the count
    written so far (every batch). Personal data (log_file.PERSONAL) only with `personal_data`.
    `conn` must not be inside a transaction (see the docstring)."""
    if conn.is_in_transaction():
        raise RuntimeError("export takes the fence before its snapshot: not in a transaction")
    fence = await conn.fetchval(FENCE)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        counts = await conn.fetchrow(COUNT_BELOW, fence)
        assert counts is not None  # an aggregate: one row
        seals = await conn.fetch(SEALS_UP_TO, counts["last"])
        done = Exported(last_position=counts["last"])
        if on_start is not None:
            on_start(counts["events"])
        header = log_file.Header(
            format=log_file.FORMAT,
            version=log_file.VERSION,
            chain=CHAIN_FORMAT,
            exported_at=dt.datetime.now(dt.UTC).isoformat(),
            events=counts["events"],
            seals=len(seals),
            last_position=counts["last"],
        )
        lines: list[Any] = [header]
        for seal in seals:
            lines.append(
                log_file.SealLine(
                    position=seal["position"],
                    hash=bytes(seal["hash"]).hex(),
                    sealed_at=recorded_at_text(seal["sealed_at"]),
                )
            )
        done.seals = len(seals)
        async for row in conn.cursor(EVENTS_BELOW, fence, prefetch=BATCH):
            lines.append(event_line(row))
            done.events += 1
            if len(lines) >= BATCH:
                _write(out, lines)
                if on_progress is not None:
                    on_progress(done.events)
        for table, where in log_file.BESIDE.items():
            if table in log_file.PERSONAL and not personal_data:
                continue
            if not await conn.fetchval(TABLE_EXISTS, table):
                continue
            query = ROWS_OF.format(table=table, where=where)
            args = (counts["last"],) if "$1" in where else ()
            done.rows[table] = 0
            async for row in conn.cursor(query, *args, prefetch=BATCH):
                lines.append(log_file.RowLine(table=table, row=msgspec.Raw(row["row"].encode())))
                done.rows[table] += 1
                if len(lines) >= BATCH:
                    _write(out, lines)
        lines.append(log_file.End(events=done.events, seals=done.seals, rows=done.rows))
        _write(out, lines)
    if on_progress is not None:
        on_progress(done.events)
    return done


def event_line(row: Any) -> log_file.EventLine:
    """An export line of a row of EVENTS_BELOW's shape (also the archive's, registry.archive)."""
    hashed = row["hash"]
    return log_file.EventLine(
        position=row["position"],
        event_id=str(row["event_id"]),
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        type=row["type"],
        schema_version=row["schema_version"],
        # Verbatim: decoding and encoding again could change a number's digits.
        data=msgspec.Raw(row["data"].encode()),
        metadata=msgspec.Raw(row["metadata"].encode()),
        recorded_at=recorded_at_text(row["recorded_at"]),
        hash=None if hashed is None else bytes(hashed).hex(),
        prev_position=row["prev_position"],
        transaction_id=int(row["transaction_id"]),
    )


def _write(out: IO[bytes], lines: list[Any]) -> None:
    out.write(b"".join(log_file.encoder.encode(line) + b"\n" for line in lines))
    lines.clear()
