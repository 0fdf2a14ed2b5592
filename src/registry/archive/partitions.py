"""The partitions of the log (migrations/0065): made ahead of the appends by
ensure_event_partitions (0064), listed from the catalogue (event_partitions, 0061).

`registry log partitions --ahead N` keeps N partitions ready past the last position drawn; run
it from cron (daily is plenty at 1,000,000 positions a partition below ~10 events/s; at the
measured peak of 1,000 events/s a partition lasts 17 minutes, so N covers N of those). An append
never fails for want of a partition: past the last one it lands in the DEFAULT partition, which
the next call turns into a range partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from registry.dbtypes import Connection

#: The role that may call ensure_event_partitions and archive_event_partition (0030).
MAINTENANCE: Final = "SET LOCAL ROLE registry_maintenance"
ENSURE: Final = "SELECT name FROM ensure_event_partitions($1, $2) AS name"
# reltuples: the planner's estimate (-1 before the first ANALYZE or VACUUM): a listing must not
# count millions of rows.
LIST: Final = """
SELECT p.name, p.first_position, p.end_position,
       greatest(c.reltuples, 0)::bigint AS rows_estimate,
       pg_total_relation_size(c.oid) AS bytes
  FROM event_partitions() p
  JOIN pg_catalog.pg_class c ON c.oid = to_regclass(quote_ident(p.name))
 ORDER BY p.first_position NULLS LAST
"""
SIZE: Final = "SELECT partition_size FROM log_partitioning"


@dataclass(frozen=True)
class Partition:
    name: str
    #: The range [first_position, end_position); both None for the DEFAULT partition.
    first_position: int | None
    end_position: int | None
    rows_estimate: int
    bytes: int

    @property
    def last_position(self) -> int | None:
        return None if self.end_position is None else self.end_position - 1


async def ensure_partitions(conn: Connection, ahead: int, size: int | None = None) -> list[str]:
    """Make partitions `ahead` (and turn the default's rows into a range partition); returns
    the names made. As registry_maintenance, in a transaction of its own."""
    async with conn.transaction():
        await conn.execute(MAINTENANCE)
        rows = await conn.fetch(ENSURE, ahead, size)
    return [r["name"] for r in rows]


async def list_partitions(conn: Connection) -> list[Partition]:
    return [
        Partition(r["name"], r["first_position"], r["end_position"], r["rows_estimate"], r["bytes"])
        for r in await conn.fetch(LIST)
    ]


async def partition_size(conn: Connection) -> int:
    size: int = await conn.fetchval(SIZE)
    return size
