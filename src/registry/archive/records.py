"""What the database keeps about each archived range of the log (migrations/0063)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from registry.audit.chain import GENESIS
from registry.dbtypes import Connection

ARCHIVES: Final = """
SELECT first_position, last_position, events, head_position, prev_hash, head_hash, file,
       directory, sha256, bytes, archived_at
  FROM log_archives
 ORDER BY first_position
"""


@dataclass(frozen=True)
class Archive:
    first_position: int
    last_position: int
    events: int
    head_position: int
    prev_hash: bytes
    head_hash: bytes
    file: str
    directory: str
    sha256: bytes
    bytes: int

    def path(self, directory: Path | None = None) -> Path:
        """Where the file is: in `directory` when given (copies moved elsewhere), else where
        the archive wrote it."""
        return (directory or Path(self.directory)) / self.file

    def describe(self) -> str:
        return f"positions {self.first_position}-{self.last_position} ({self.file})"


async def load_archives(conn: Connection) -> list[Archive]:
    rows = await conn.fetch(ARCHIVES)
    return [
        Archive(
            first_position=r["first_position"],
            last_position=r["last_position"],
            events=r["events"],
            head_position=r["head_position"],
            prev_hash=bytes(r["prev_hash"]),
            head_hash=bytes(r["head_hash"]),
            file=r["file"],
            directory=r["directory"],
            sha256=bytes(r["sha256"]),
            bytes=r["bytes"],
        )
        for r in rows
    ]


def boundary(archives: list[Archive]) -> tuple[int, int, bytes]:
    """(last archived position, the chain's last archived event, its hash): where the chain in
    the database starts from. (0, 0, genesis) without archives."""
    if not archives:
        return 0, 0, GENESIS
    last = archives[-1]
    return last.last_position, last.head_position, last.head_hash
