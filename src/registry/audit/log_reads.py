"""The auditors' reads of the log (GET /v1/audit/...): one organisation's events in global
order, one of its streams, and the seals, each with the chain beside it.

Only final events are shown: each read takes the store's read fence first (migrations/0018) and
reads below it in its next statements, so paging by position never skips an event that commits
later with a smaller one, and `position` (the head below that fence) is what the answer reflects.
An item carries what an auditor needs to check its hash alone (registry.audit.chain):
``hash == SHA-256(prev_hash || canonical(item))``; `hash`, `prev_position` and `prev_hash` are
null while the chainer has not reached the event. `data` and `metadata` are the stored JSON, as
PostgreSQL writes it (numbers as stored, which the canonical encoding keeps).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from registry.audit.chain import GENESIS, recorded_at_text
from registry.dbtypes import Connection
from registry.eventstore.archived import refuse_archived_between
from registry.eventstore.pg_queries import FENCE

HEAD_BELOW: Final = "SELECT coalesce(max(position), 0) FROM events WHERE transaction_id < $1::xid8"
_ITEM: Final = """
SELECT e.position, e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version,
       e.data::text AS data, e.metadata::text AS metadata, e.recorded_at,
       h.hash, h.prev_position, p.hash AS prev_hash
  FROM events e
  LEFT JOIN event_hashes h ON h.position = e.position
  LEFT JOIN event_hashes p ON p.position = h.prev_position
"""
# stream_organisation() is the expression of the index of 0037: a range scan per page.
LOG_PAGE: Final = (
    _ITEM
    + """
 WHERE stream_organisation(e.stream_id) = $1 AND e.position >= $2 AND e.transaction_id < $4::xid8
 ORDER BY e.position
 LIMIT $3
"""
)
STREAM_PAGE: Final = (
    _ITEM
    + """
 WHERE e.stream_id = $1 AND e.stream_version >= $2 AND e.transaction_id < $4::xid8
 ORDER BY e.stream_version
 LIMIT $3
"""
)
STREAM_EXISTS: Final = "SELECT EXISTS (SELECT 1 FROM streams WHERE stream_id = $1)"
SEALS_PAGE: Final = """
SELECT position, hash, sealed_at FROM log_seals WHERE position >= $1 ORDER BY position LIMIT $2
"""


def stream_organisation(stream_id: str) -> str:
    """The organisation a stream belongs to (`<category>-<organisation>:...`), as the SQL
    function of migrations/0037 reads it."""
    return stream_id.partition("-")[2].partition(":")[0]


@dataclass(frozen=True)
class Page:
    """A page: the head it reflects, its items, and where the next one starts (None: none)."""

    position: int
    items: list[dict[str, Any]]
    next_from: int | None


async def log_page(conn: Connection, organisation: str, start: int, limit: int) -> Page:
    fence = await conn.fetchval(FENCE)  # first: the rows are read with later snapshots
    head: int = await conn.fetchval(HEAD_BELOW, fence)
    rows = await conn.fetch(LOG_PAGE, organisation, start, limit + 1, fence)
    # A page that starts in archived history says so instead of starting after it.
    await refuse_archived_between(conn, start, rows[0]["position"] - 1 if rows else head)
    items = [_item(row) for row in rows[:limit]]
    more = items[-1]["position"] + 1 if len(rows) > limit else None
    return Page(head, items, more)


async def stream_page(conn: Connection, stream_id: str, start: int, limit: int) -> Page | None:
    """A stream's events from version `start`; None if the stream does not exist."""
    if not await conn.fetchval(STREAM_EXISTS, stream_id):
        return None
    fence = await conn.fetchval(FENCE)
    head: int = await conn.fetchval(HEAD_BELOW, fence)
    rows = await conn.fetch(STREAM_PAGE, stream_id, start, limit + 1, fence)
    items = [_item(row) for row in rows[:limit]]
    more = items[-1]["version"] + 1 if len(rows) > limit else None
    return Page(head, items, more)


async def seals_page(conn: Connection, start: int, limit: int) -> Page:
    head: int = await conn.fetchval(HEAD_BELOW, await conn.fetchval(FENCE))
    rows = await conn.fetch(SEALS_PAGE, start, limit + 1)
    items = [
        {
            "position": r["position"],
            "hash": bytes(r["hash"]).hex(),
            "sealed_at": _utc(r["sealed_at"]),
        }
        for r in rows[:limit]
    ]
    more = items[-1]["position"] + 1 if len(rows) > limit else None
    return Page(head, items, more)


def _item(row: Any) -> dict[str, Any]:
    hashed = row["hash"] is not None
    previous = row["prev_hash"]
    if hashed and previous is None:
        previous = GENESIS  # the first event's (prev_position 0)
    return {
        "position": row["position"],
        "event_id": str(row["event_id"]),
        "stream": row["stream_id"],
        "version": row["stream_version"],
        "type": row["type"],
        "schema_version": row["schema_version"],
        # As stored, not decoded and encoded again: numbers keep their digits.
        "data": msgspec.Raw(row["data"].encode()),
        "metadata": msgspec.Raw(row["metadata"].encode()),
        "recorded_at": recorded_at_text(row["recorded_at"]),
        "hash": bytes(row["hash"]).hex() if hashed else None,
        "prev_position": row["prev_position"],
        "prev_hash": bytes(previous).hex() if hashed else None,
    }


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()
