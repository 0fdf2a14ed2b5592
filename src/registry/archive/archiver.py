"""`registry log archive --before POSITION --to DIR`: the log's oldest partitions out of the
database, into files in the export format (registry.audit.log_file), one file per partition.

Only whole partitions that end below POSITION, oldest first, and each only if
- it is final and in the chain: the chainer has hashed its last position (it hashes only the
  fenced prefix of the log, so no append can still add a row to it), and a seal covers its last
  event (an auditor's anchor for what leaves);
- every live projection has passed it (the service's projectors read only the database);
- no stream with events in it goes on after it (unless allowed): the service folds a stream
  (an event's programme, a participant's registration) from its first event, so such streams
  could no longer take commands (their reads raise ArchivedHistory, registry.eventstore);
- its chain verifies: every event hashed again from the hash before the partition (the previous
  archive's head, or the genesis) gives the stored hash, linked to the event before.

Then the file is written (beside, then renamed), read back and checked as `registry verify` checks
archives (registry.archive.files), and only then recorded and the partition detached and dropped,
as registry_maintenance, in one transaction (archive_event_partition, migrations/0066, which
checks the same claims again on its side). A failure before that leaves the partition in place.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from projections import PROJECTIONS
from registry.archive.files import check_file, digest
from registry.archive.partitions import MAINTENANCE, Partition, list_partitions
from registry.archive.records import Archive, boundary, load_archives
from registry.audit import log_file
from registry.audit.chain import CHAIN_FORMAT, LoggedEvent, link, recorded_at_text
from registry.audit.export import event_line
from registry.dbtypes import Connection

BATCH: Final = 5000
CHAIN_HEAD: Final = "SELECT coalesce(max(position), 0) FROM event_hashes"
LAST_SEAL: Final = "SELECT coalesce(max(position), 0) FROM log_seals"
# Every projection of this code ($2) and any other recorded, at its live generation's
# checkpoint; one that never ran stands at 0.
BEHIND: Final = """
SELECT n.name, coalesce(c.position, 0) AS position
  FROM (SELECT unnest($2::text[]) UNION SELECT name FROM projection_state) AS n(name)
  LEFT JOIN projection_state s ON s.name = n.name
  LEFT JOIN projection_checkpoints c ON c.name = s.name AND c.generation = s.live_generation
 WHERE coalesce(c.position, 0) < $1
 ORDER BY n.name
"""
IN_RANGE: Final = """
SELECT count(*) AS events, coalesce(max(position), 0) AS last
  FROM events WHERE position >= $1 AND position < $2
"""
# The export's columns (registry.audit.export.EVENTS_BELOW), for one partition's range.
EVENTS_IN: Final = """
SELECT e.position, e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version,
       e.data::text AS data, e.metadata::text AS metadata, e.recorded_at,
       e.transaction_id::text AS transaction_id, h.hash, h.prev_position
  FROM events e LEFT JOIN event_hashes h ON h.position = e.position
 WHERE e.position >= $1 AND e.position < $2
 ORDER BY e.position
"""
SEALS_IN: Final = """
SELECT position, hash, sealed_at FROM log_seals
 WHERE position >= $1 AND position < $2 ORDER BY position
"""
# Streams with events in the partition [$1, $2) and more after what this run archives (up to
# $3): their folds (a programme, a participant's registration) would need the file. `streams`
# holds each stream's version (0001).
CONTINUING: Final = """
SELECT p.stream_id, count(*) OVER () AS streams
  FROM (SELECT stream_id, max(stream_version) AS version FROM events
         WHERE position >= $1 AND position < $3
         GROUP BY stream_id
        HAVING min(position) < $2) p
  JOIN streams s ON s.stream_id = p.stream_id
 WHERE s.version > p.version
 ORDER BY p.stream_id
 LIMIT 3
"""
ARCHIVE: Final = "SELECT archive_event_partition($1, $2, $3, $4, $5, $6, $7, $8, $9)"


class ArchiveRefused(Exception):
    """Nothing (more) was archived; the message says why."""


@dataclass(frozen=True)
class ArchivedPartition:
    partition: str
    archive: Archive
    seconds: float


async def archive_before(
    conn: Connection,
    before: int,
    directory: Path,
    *,
    continuing_streams: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[ArchivedPartition]:
    """Archive every partition that ends below `before`, oldest first; `on_progress(partition,
    events written, events in it)`. ArchiveRefused when none may be (those archived before the
    refusal stay archived). `continuing_streams`: archive even partitions with events of streams
    that go on after them."""
    if conn.is_in_transaction():
        raise RuntimeError("archive runs its own transactions: not inside one")
    ranges = [p for p in await list_partitions(conn) if p.end_position is not None]
    chosen = [p for p in ranges if p.end_position is not None and p.end_position <= before]
    if not chosen:
        oldest = (
            f"the oldest, {ranges[0].name}, ends at position {ranges[0].last_position}"
            if ranges
            else "the log has no range partition yet: `registry log partitions`"
        )
        raise ArchiveRefused(f"no whole partition lies below position {before} ({oldest})")
    last_end = max(p.end_position or 0 for p in chosen)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    directory = await asyncio.to_thread(directory.resolve)  # recorded: absolute
    done: list[ArchivedPartition] = []
    for partition in chosen:
        # Streams may go on into the partitions archived with it, not past the last of them.
        until = None if continuing_streams else last_end
        done.append(await _archive(conn, partition, directory, until, on_progress))
    return done


async def _archive(
    conn: Connection,
    partition: Partition,
    directory: Path,
    until: int | None,
    on_progress: Callable[[str, int, int], None] | None,
) -> ArchivedPartition:
    started = time.monotonic()
    assert partition.first_position is not None and partition.end_position is not None
    first, end = partition.first_position, partition.end_position
    name = f"{partition.name} (positions {first}-{end - 1})"
    _, prev_position, prev_hash = boundary(await load_archives(conn))
    chained = await conn.fetchval(CHAIN_HEAD)
    if chained < end - 1:
        raise ArchiveRefused(
            f"{name} is not all in the hash chain yet (it has reached position {chained}; the "
            "chainer runs in `registry serve` and `registry projections run`)"
        )
    counts = await conn.fetchrow(IN_RANGE, first, end)
    assert counts is not None  # an aggregate: one row
    sealed = await conn.fetchval(LAST_SEAL)
    if counts["events"] and sealed < counts["last"]:
        raise ArchiveRefused(
            f"{name}: no seal covers its last event, position {counts['last']}, yet (the "
            f"newest seal is at position {sealed})"
        )
    behind = await conn.fetch(BEHIND, end - 1, [p.name for p in PROJECTIONS])
    if behind:
        at = ", ".join(f"{r['name']} at position {r['position']}" for r in behind)
        raise ArchiveRefused(f"{name}: projections have not passed it yet ({at})")
    continuing = [] if until is None else await conn.fetch(CONTINUING, first, end, until)
    if continuing:
        assert until is not None
        some = ", ".join(r["stream_id"] for r in continuing)
        raise ArchiveRefused(
            f"{name}: {continuing[0]['streams']} stream(s) with events in it go on after "
            f"position {until - 1} ({some}, ...): the service could no longer fold them (their "
            "commands would be refused); archive only finished history, or allow it knowingly "
            "(--allow-continuing-streams)"
        )
    path = directory / f"events-{first:012d}-{end - 1:012d}.jsonl.gz"
    partial = path.with_name(path.name + ".partial")

    def progress(written: int) -> None:
        if on_progress is not None:
            on_progress(partition.name, written, counts["events"])

    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            head_position, head_hash = await _write(
                conn, partial, (first, end), counts, (prev_position, prev_hash), progress
            )
    except BaseException:
        partial.unlink(missing_ok=True)  # no stray half file
        raise
    os.replace(partial, path)
    sha, size = digest(path)
    archive = Archive(
        first, end - 1, counts["events"], head_position, prev_hash, head_hash, path.name,
        str(directory), sha, size,
    )  # fmt: skip
    problems = check_file(archive, path, prev_position)
    if problems:
        path.unlink()
        raise ArchiveRefused(f"the file written for {name} does not check: {problems[0].what}")
    async with conn.transaction():
        await conn.execute(MAINTENANCE)
        await conn.execute(
            ARCHIVE, partition.name, archive.events, head_position, prev_hash, head_hash,
            archive.file, archive.directory, sha, size,
        )  # fmt: skip
    return ArchivedPartition(partition.name, archive, time.monotonic() - started)


async def _write(
    conn: Connection,
    path: Path,
    bounds: tuple[int, int],
    counts: Any,
    before: tuple[int, bytes],
    progress: Callable[[int], None],
) -> tuple[int, bytes]:
    """Write the partition's file, checking its chain from `before` (position, hash) as it
    goes; returns the chain's (position, hash) at its last event."""
    first, end = bounds
    seals = await conn.fetch(SEALS_IN, first, end)
    position, previous = before
    written = 0
    with log_file.open_for_writing(path, compress=True) as out:
        lines: list[Any] = [
            log_file.Header(
                format=log_file.FORMAT, version=log_file.VERSION, chain=CHAIN_FORMAT,
                exported_at=dt.datetime.now(dt.UTC).isoformat(), events=counts["events"],
                seals=len(seals), last_position=counts["last"],
            ),
            *(
                log_file.SealLine(position=s["position"], hash=bytes(s["hash"]).hex(),
                                  sealed_at=recorded_at_text(s["sealed_at"]))
                for s in seals
            ),
        ]  # fmt: skip
        async for row in conn.cursor(EVENTS_IN, first, end, prefetch=BATCH):
            stored = row["hash"]
            computed = link(previous, LoggedEvent(*(row[i] for i in range(9))))
            if stored is None or row["prev_position"] != position or bytes(stored) != computed:
                raise ArchiveRefused(
                    f"the hash chain does not verify at position {row['position']}: run "
                    "`registry verify`; nothing was archived from there"
                )
            lines.append(event_line(row))
            position, previous = row["position"], computed
            written += 1
            if len(lines) >= BATCH:
                _flush(out, lines)
                progress(written)
        lines.append(log_file.End(events=written, seals=len(seals), rows={}))
        _flush(out, lines)
    # On disk before the partition goes (gzip writes its last block when closed, hence here).
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    progress(written)
    return position, previous


def _flush(out: Any, lines: list[Any]) -> None:
    out.write(b"".join(log_file.encoder.encode(line) + b"\n" for line in lines))
    lines.clear()
