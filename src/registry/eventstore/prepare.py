"""Checks and encodes an append before any adapter touches storage, so every adapter refuses the
same bad input with the same typed error and writes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Final

import msgspec

from registry.eventstore.codec import EventCodec
from registry.eventstore.errors import InvalidAppend, InvalidStreamId, PayloadTooLarge
from registry.eventstore.model import GateFence, Metadata, StreamAppend

#: `category-id`: a lower-case category, a dash, then an id (ids may hold dashes, colons, dots).
#: The same pattern is a CHECK constraint on the events table (migrations/0002_events.sql).
STREAM_ID: Final = re.compile(r"[a-z][a-z0-9_]{0,31}-[A-Za-z0-9][A-Za-z0-9:._-]{0,199}")
MAX_EVENT_BYTES: Final = 64 * 1024
#: A guard, not a design limit: an organiser's change is one atomic append of every seat it moves
#: (cancelling or merging a session of thousands, a whole event cancelled), which at 1,000 made a
#: merge of 1,500 people fail (bench/organiser_change.py found it). No command of a form comes near.
MAX_EVENTS_PER_APPEND: Final = 100_000
MAX_COMMAND_ID_LENGTH: Final = 300

_metadata_encoder = msgspec.json.Encoder()


class PreparedEvent(msgspec.Struct, frozen=True):
    stream_index: int  # 0-based index into PreparedAppend.streams
    event_id: uuid.UUID
    type: str
    schema_version: int
    data: bytes


class PreparedAppend(msgspec.Struct, frozen=True):
    streams: tuple[str, ...]
    expected: tuple[int | None, ...]
    events: tuple[PreparedEvent, ...]
    metadata: bytes
    command_id: str | None
    fingerprint: str | None
    answer: bytes | None
    fence: GateFence | None = None

    def event_counts(self) -> list[int]:
        counts = [0] * len(self.streams)
        for event in self.events:
            counts[event.stream_index] += 1
        return counts


def prepare(
    codec: EventCodec,
    appends: Sequence[StreamAppend],
    *,
    metadata: Metadata,
    command_id: str | None,
    fingerprint: str | None,
    answer: bytes | None,
    fence: GateFence | None = None,
) -> PreparedAppend:
    if not appends and command_id is None:
        raise InvalidAppend("an append needs at least one stream or a command id")
    if command_id is not None and not 0 < len(command_id) <= MAX_COMMAND_ID_LENGTH:
        raise InvalidAppend(f"a command id has 1 to {MAX_COMMAND_ID_LENGTH} characters")
    streams: list[str] = []
    expected: list[int | None] = []
    events: list[PreparedEvent] = []
    indexes: dict[str, int] = {}
    for append in appends:
        if not STREAM_ID.fullmatch(append.stream_id):
            raise InvalidStreamId(append.stream_id)
        if append.expected_version is not None and append.expected_version < 0:
            raise InvalidAppend(f"expected version {append.expected_version} is negative")
        index = indexes.get(append.stream_id)
        if index is None:
            index = indexes[append.stream_id] = len(streams)
            streams.append(append.stream_id)
            expected.append(append.expected_version)
        elif append.expected_version is not None:
            # A stream named again continues where its earlier entry left off (StreamAppend):
            # only its first entry says what version it must be at.
            raise InvalidAppend(
                f"stream {append.stream_id!r} appears again with an expected version"
            )
        for event in append.events:
            data = codec.encode(event)
            if len(data) > MAX_EVENT_BYTES:
                raise PayloadTooLarge(len(data), MAX_EVENT_BYTES)
            type_name, version = type(event).type_name, event.schema_version
            events.append(PreparedEvent(index, uuid.uuid4(), type_name, version, data))
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise InvalidAppend(f"an append holds at most {MAX_EVENTS_PER_APPEND} events")
    return PreparedAppend(
        streams=tuple(streams),
        expected=tuple(expected),
        events=tuple(events),
        metadata=_metadata_encoder.encode(metadata),
        command_id=command_id,
        fingerprint=fingerprint,
        answer=answer,
        fence=fence,
    )
