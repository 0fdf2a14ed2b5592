"""The export file (`registry export`, `registry import`): JSON Lines, optionally gzipped, one
object per line with its `kind`, in this order:

1. ``header``  ``{format: "registry-log", version: 1, chain, exported_at, events, seals,
   last_position}``: `chain` names the hash chain's encoding (registry.audit.chain), `events`
   how many event lines follow, `last_position` the last of them (0: none).
2. ``seal`` lines ``{position, hash, sealed_at}``, by position (before the events, so that an
   import checks each seal as the chain passes it).
3. ``event`` lines, by position: every column of the row (``position, event_id, stream_id,
   stream_version, type, schema_version, data, metadata, recorded_at``) plus ``hash`` and
   ``prev_position`` (null where the chainer had not got yet) and the writing transaction's id
   in the source database (``transaction_id``: appends share one; for information, as ids mean
   nothing in another database). `data` and `metadata` are the stored JSON verbatim, `recorded_at`
   in the chain's form (UTC, microseconds), hashes in lowercase hex.
4. ``row`` lines ``{table, row}``: the rows kept beside the log that reproducing the service needs
   (`BESIDE`): participants' personal data (read models show names from it), the organisations'
   e-mail keys (e-mail streams are named with them), the command records (idempotent replays).
   Each row is PostgreSQL's `row_to_json` of it.
5. ``end`` ``{events, seals, rows}``: present only if the export finished; an import refuses a
   file without it (truncated).

Only final events are exported: those below the store's read fence when the export began (see
migrations/0018), read with one snapshot.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final, cast

import msgspec

FORMAT: Final = "registry-log"
VERSION: Final = 1
_GZIP_MAGIC: Final = b"\x1f\x8b"

#: Tables beside the log that an export carries, each with the rows it takes (`$1`: the last
#: exported position). A table missing from the source database is left out; commands only of
#: appends the export holds (or that wrote nothing before it). Personal data rows have no
#: position: one of a registration committing as the export starts can come without its event.
#: Personal data and the keys that pseudonymise e-mails in the log: exported only when asked
#: (`--with-personal-data`, to move a service), never in a file for auditors by default, where an
#: erasure could not reach them and the key would let anyone test guessed addresses.
PERSONAL: Final = frozenset({"participant_details", "organisation_secrets"})
BESIDE: Final = {
    "participant_details": "",
    "organisation_secrets": "",
    "commands": 'WHERE "position" <= $1',
}


class Header(msgspec.Struct, tag="header", tag_field="kind", kw_only=True):
    format: str
    version: int
    chain: str
    exported_at: str
    events: int
    seals: int
    last_position: int


class SealLine(msgspec.Struct, tag="seal", tag_field="kind", kw_only=True):
    position: int
    hash: str
    sealed_at: str


class EventLine(msgspec.Struct, tag="event", tag_field="kind", kw_only=True):
    position: int
    event_id: str
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    data: msgspec.Raw
    metadata: msgspec.Raw
    recorded_at: str
    hash: str | None
    prev_position: int | None
    transaction_id: int


class RowLine(msgspec.Struct, tag="row", tag_field="kind", kw_only=True):
    table: str
    row: msgspec.Raw


class End(msgspec.Struct, tag="end", tag_field="kind", kw_only=True):
    events: int
    seals: int
    rows: dict[str, int]


Line = Header | SealLine | EventLine | RowLine | End
encoder: Final = msgspec.json.Encoder()
decoder: Final = msgspec.json.Decoder(Line)


@contextmanager
def open_for_writing(path: Path, *, compress: bool) -> Iterator[IO[bytes]]:
    if compress:
        # Level 6: most of the size win of 9 at a fraction of its time on a log's JSON.
        with gzip.open(path, "wb", compresslevel=6) as zipped:
            yield cast(IO[bytes], zipped)
    else:
        with path.open("wb") as plain:
            yield plain


@contextmanager
def open_for_reading(path: Path) -> Iterator[IO[bytes]]:
    """The file, gunzipped on the fly if it is gzip (told by its first bytes, not its name)."""
    with path.open("rb") as raw:
        zipped = raw.read(2) == _GZIP_MAGIC
    if zipped:
        with gzip.open(path, "rb") as unzipped:
            yield cast(IO[bytes], unzipped)
    else:
        with path.open("rb") as plain:
            yield plain
