"""Archive files read back: the export format (registry.audit.log_file) holding one archived
range, checked against what log_archives recorded about it and against the hash chain.

A file is trusted only as far as it is checked: its SHA-256 and size as recorded when it was
written, a header and an end line (not truncated), and the chain computed again over every event
from the hash before the range (the previous range's head, or the genesis) must give each hash
the file states, reach every seal it carries, and end on the head hash the database recorded
(the next event in the database links to it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import msgspec

from registry.archive.records import Archive
from registry.audit import log_file
from registry.audit.chain import CHAIN_FORMAT, GENESIS, LoggedEvent, link
from registry.audit.findings import Finding

CHECK: Final = "chain"
_CHUNK: Final = 1 << 20


class ArchiveUnreadable(Exception):
    """An archive file is missing, changed, truncated or not an archive; `first`: the first
    position of its range (1 when not known)."""

    def __init__(self, message: str, first: int = 1) -> None:
        super().__init__(message)
        self.first = first


def digest(path: Path) -> tuple[bytes, int]:
    """SHA-256 and size of a file, read in chunks."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.digest(), size


def event_lines(path: Path) -> Iterator[log_file.EventLine]:
    """The file's events in order; ArchiveUnreadable if it is no whole export."""
    with log_file.open_for_reading(path) as lines:
        header: log_file.Line | None = None
        for number, raw in enumerate(lines, start=1):
            try:
                line = log_file.decoder.decode(raw)
            except msgspec.DecodeError as error:
                raise ArchiveUnreadable(f"{path.name}, line {number}: {error}") from None
            if header is None:
                if not isinstance(line, log_file.Header) or line.chain != CHAIN_FORMAT:
                    raise ArchiveUnreadable(f"{path.name}: not an export of this log's chain")
                header = line
            elif isinstance(line, log_file.EventLine):
                yield line
            elif isinstance(line, log_file.End):
                return
        raise ArchiveUnreadable(f"{path.name}: the file ends without its end line (truncated?)")


def logged(line: log_file.EventLine) -> LoggedEvent:
    return LoggedEvent(
        line.position, line.event_id, line.stream_id, line.stream_version, line.type,
        line.schema_version, bytes(line.data), bytes(line.metadata),
        dt.datetime.fromisoformat(line.recorded_at),
    )  # fmt: skip


def seal_lines(path: Path) -> list[log_file.SealLine]:
    with log_file.open_for_reading(path) as lines:
        seals: list[log_file.SealLine] = []
        for raw in lines:
            line = log_file.decoder.decode(raw)
            if isinstance(line, log_file.SealLine):
                seals.append(line)
            elif isinstance(line, log_file.EventLine | log_file.End):
                return seals
    return seals


def check_file(archive: Archive, path: Path, prev_position: int) -> list[Finding]:
    """Findings about one archive file (empty: it holds exactly the recorded range, and the
    chain runs through it from `archive.prev_hash` after `prev_position` to its head hash)."""
    where = archive.first_position

    def found(what: str) -> list[Finding]:
        return [Finding(where, CHECK, f"archive {archive.describe()}: {what}")]

    if not path.is_file():
        return found(f"the file is not at {path}")
    sha, size = digest(path)
    if (sha, size) != (archive.sha256, archive.bytes):
        return found(f"{path} is not the file archived (its SHA-256 or size differs)")
    previous, before = archive.prev_hash, prev_position
    computed: dict[int, bytes] = {}
    count = 0
    try:
        for line in event_lines(path):
            if not archive.first_position <= line.position <= archive.last_position:
                return found(f"position {line.position} lies outside the range")
            if line.position <= before or line.prev_position != before:
                return found(f"position {line.position} does not follow position {before}")
            previous = link(previous, logged(line))
            if line.hash != previous.hex():
                where = line.position
                return found(f"position {line.position} does not match its hash")
            computed[line.position] = previous
            before = line.position
            count += 1
        seals = seal_lines(path)
    except ArchiveUnreadable as error:
        return found(str(error))
    for seal in seals:
        if computed.get(seal.position, b"").hex() != seal.hash:
            return found(f"the chain does not reach the seal at position {seal.position}")
    if (count, before, previous) != (archive.events, archive.head_position, archive.head_hash):
        return found(
            f"{count} events to position {before}, where {archive.events} to position "
            f"{archive.head_position} were archived, or the chain ends elsewhere"
        )
    return []


def check_files(archives: list[Archive], directory: Path | None = None) -> list[Finding]:
    """Every archive in order, each continuing the chain where the one before ended."""
    findings: list[Finding] = []
    prev_position, prev_hash = 0, GENESIS
    for archive in archives:
        if archive.prev_hash != prev_hash:
            what = f"archive {archive.describe()}: does not begin where the one before ends"
            findings.append(Finding(archive.first_position, CHECK, what))
        findings += check_file(archive, archive.path(directory), prev_position)
        prev_position, prev_hash = archive.head_position, archive.head_hash
    return findings
