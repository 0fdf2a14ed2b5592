"""The log's hash chain: the canonical encoding of an event, and the hash that links it to the
event before it. Pure: no I/O. Written so that an auditor can reimplement it from this text.

**Canonical encoding** of one event: the UTF-8 bytes of a JSON object with exactly these nine
members (the names of the audit API's items in brackets where they differ):

==============  ===============================================================================
data            the event's data as stored (a JSON object)
event_id        its UUID: 32 lowercase hex digits in groups 8-4-4-4-12, hyphenated
metadata        its metadata as stored (a JSON object)
position        its global log position (an integer)
recorded_at     when it was recorded, in UTC: ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, always six
                fraction digits (the audit API gives it in exactly this form)
schema_version  an integer
stream_id       its stream's id (``stream``)
stream_version  its version within that stream (``version``)
type            its type name
==============  ===============================================================================

written, at every depth, with

- object members sorted by key, keys compared by Unicode code point (the same as by UTF-8 bytes);
- no whitespace: ``,`` between members and items, ``:`` after a key;
- strings: ``"`` and ``\\`` escaped by a backslash; U+0008, U+0009, U+000A, U+000C, U+000D as
  ``\\b \\t \\n \\f \\r``; every other code point below U+0020 as ``\\u00xx`` (lowercase hex); all
  other characters as themselves in UTF-8 (no ``\\u`` escapes, ``/`` and U+007F not escaped);
- numbers exactly as they are written in the stored JSON. PostgreSQL's jsonb writes them in plain
  decimal notation, no exponent, keeping the scale (``1e2`` is stored as ``100``, ``1.50`` stays
  ``1.50``); integers of any size are their digits. (The registry writes no fractional numbers.)
- ``true``, ``false``, ``null``.

In Python, ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
.encode()`` gives the same bytes for JSON without fractional numbers (with them, parse numbers
keeping their text, as this module does).

**The chain**: ``hash_1 = SHA-256(G || canonical_1)``, ``hash_n = SHA-256(hash_(n-1) ||
canonical_n)``, events in position order, where ``G`` (genesis) is 32 zero bytes, ``||`` joins
bytes, and a hash is its 32 raw bytes (shown as 64 lowercase hex digits). Positions may have
gaps, for ever: an append that rolls back after drawing its positions leaves them unused (see
migrations/0004_append_events.sql). The chain links each event to the previous *existing* one,
whose position is stored beside the hash (``prev_position``, 0 for the first event).

**Seals** ``(position, hash, sealed_at)`` record the chain's hash at a position. Kept outside the
system, they make a rewrite of the log visible even when the rewriter recomputed every hash after
it: the chain recomputed from position 1 no longer reaches the sealed hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, Final, NamedTuple
from uuid import UUID

import msgspec

#: The hash before the first event.
GENESIS: Final = bytes(32)
#: What an export's header names as the chain it carries (the encoding above, SHA-256).
CHAIN_FORMAT: Final = "sha256-canonical-json/1"


def _verbatim(number: str) -> msgspec.Raw:
    # A fractional number is kept as the text it was stored as, not turned into a float (which
    # could change its digits): the encoding above copies numbers as written.
    return msgspec.Raw(number.encode())


_decoder: Final = msgspec.json.Decoder(float_hook=_verbatim)
_encoder: Final = msgspec.json.Encoder(order="sorted")


class LoggedEvent(NamedTuple):
    """One row of the log, as hashed: data and metadata as their stored JSON text."""

    position: int
    event_id: UUID | str
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    data: str | bytes
    metadata: str | bytes
    recorded_at: dt.datetime


def recorded_at_text(moment: dt.datetime) -> str:
    """The canonical form of a recording time (UTC, microseconds, ``+00:00``)."""
    if moment.tzinfo is None:
        raise ValueError("a recording time without a time zone cannot be hashed")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_json(data: str | bytes) -> bytes:
    """Stored JSON text in the canonical form (sorted keys, no whitespace, numbers as written)."""
    return _encoder.encode(_decoder.decode(data))


def canonical(event: LoggedEvent) -> bytes:
    """The bytes hashed for one event (the module's docstring defines them)."""
    content: dict[str, Any] = {
        "data": _decoder.decode(event.data),
        "event_id": str(event.event_id).lower(),
        "metadata": _decoder.decode(event.metadata),
        "position": event.position,
        "recorded_at": recorded_at_text(event.recorded_at),
        "schema_version": event.schema_version,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "type": event.type,
    }
    return _encoder.encode(content)


def link(previous: bytes, event: LoggedEvent) -> bytes:
    """The chain's hash at `event`, given the hash at the event before it."""
    return hashlib.sha256(previous + canonical(event)).digest()


class Link(NamedTuple):
    """A hash as stored beside its event."""

    position: int
    hash: bytes
    prev_position: int


def chain(
    events: Iterable[LoggedEvent], previous: bytes = GENESIS, prev_position: int = 0
) -> Iterator[Link]:
    """The links of `events` (in position order), continuing the chain after `prev_position`,
    whose hash is `previous`."""
    for event in events:
        if event.position <= prev_position:
            raise ValueError(f"position {event.position} is not after {prev_position}")
        previous = link(previous, event)
        yield Link(event.position, previous, prev_position)
        prev_position = event.position
