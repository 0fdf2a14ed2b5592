"""Reads of the log that reach archived history (migrations/0063: `registry log archive` moved
those positions into files) raise ArchivedHistory, naming the range and the file, instead of
handing back a log with a hole in it: a projection built, a verify run or a programme folded
from such a log would be wrong without a word.

How a read notices, at no cost on the busy path: `read_all` asks log_archives only when its
first row is not at the position asked for (an empty read at the head, or a gap); a stream read
only when the stream's first row is not at the version asked for (streams are numbered from 1
without gaps, so a stream whose first surviving event is not its first began in an archive), or
when it comes back empty (then `streams` tells whether it has events there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from registry.dbtypes import Connection
from registry.eventstore.errors import ArchivedHistory

#: The first archived range at or after a position.
ARCHIVED_FROM: Final = """
SELECT first_position, last_position, file FROM log_archives
 WHERE last_position >= $1 ORDER BY first_position LIMIT 1
"""
#: Every archived range before a position (a stream's first surviving event), as one range.
ARCHIVED_BEFORE: Final = """
SELECT min(first_position) AS first_position, max(last_position) AS last_position,
       string_agg(file, ', ' ORDER BY first_position) AS file
  FROM log_archives WHERE first_position < $1
"""

#: A stream read that came back empty: the stream has events from that version on, so they are
#: all archived (cheap when nothing is archived or the stream does not exist: a new participant).
ARCHIVED_STREAM: Final = """
SELECT min(a.first_position) AS first_position, max(a.last_position) AS last_position,
       string_agg(a.file, ', ' ORDER BY a.first_position) AS file
  FROM log_archives a
 WHERE EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = $2 AND s.version >= $1)
"""


async def refuse_archived(
    conn: Connection, query: str, *args: object, stream_id: str | None = None
) -> None:
    """Raise ArchivedHistory if `query` (with `args`) finds an archived range."""
    row = await conn.fetchrow(query, *args)
    if row is not None and row["first_position"] is not None:
        first, last = row["first_position"], row["last_position"]
        raise ArchivedHistory(first, last, row["file"], stream_id=stream_id)


async def refuse_archived_between(conn: Connection, first: int, last: int) -> None:
    """Raise ArchivedHistory if positions `first`..`last` reach into an archived range: for
    reads by position that would otherwise skip it without a word (`?as_of=`'s replay, the
    auditors' log pages)."""
    row = await conn.fetchrow(ARCHIVED_FROM, first)
    if row is not None and row["first_position"] <= last:
        raise ArchivedHistory(row["first_position"], row["last_position"], row["file"])


async def streams_begin(
    conn: Connection, rows: Sequence[asyncpg.Record], begun: set[str] | None = None
) -> None:
    """Raise ArchivedHistory if a stream among `rows` (in position order) does not begin at
    version 1 there; `begun`, the streams met in earlier rows (it is added to)."""
    begun = set() if begun is None else begun
    for row in rows:
        if row["stream_id"] not in begun:
            begun.add(row["stream_id"])
            if row["stream_version"] > 1:
                stream_id = row["stream_id"]
                await refuse_archived(conn, ARCHIVED_BEFORE, row["position"], stream_id=stream_id)
