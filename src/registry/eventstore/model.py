"""What goes into the log and what comes out of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

import msgspec

from registry.domain.event import Event

#: Expected version meaning "whatever the stream's version is".
ANY: Final = None
#: Expected version meaning "the stream must not exist yet".
NO_STREAM: Final = 0


class Metadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who caused an event and why; stored beside the data, never interpreted by the store."""

    command_id: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    actor: str | None = None


class GateFence(msgspec.Struct, frozen=True):
    """The capacity gate's epoch a decision was made in (see EventStore.gate_fence)."""

    key: str
    epoch: int


class StreamAppend(msgspec.Struct, frozen=True):
    """Events for one stream, written only if the stream is at `expected_version`.

    `expected_version` is an exact version (`NO_STREAM`, 0: the stream must not exist) or `ANY`.
    An append with no events only asserts the version: it fails if the stream moved, writes nothing
    to that stream, and holds the stream still until the append commits.

    Events take positions in the order the appends list them. A stream may be named again later in
    the same list with `ANY`: its events there follow its earlier ones (versions go on counting)
    and come after the other streams' events between them, so facts about several streams keep
    the order they were decided in (a seat freed in one stream before it is given in another).
    """

    stream_id: str
    expected_version: int | None
    events: Sequence[Event]


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    event_id: UUID
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    event: Event
    metadata: Metadata
    recorded_at: datetime


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of an append, or of its first run when the command id was seen before."""

    #: Global positions written, in order (empty when nothing was written).
    positions: tuple[int, ...]
    #: The position of the last event written, or the log's head when the append wrote nothing.
    position: int
    #: Each stream's version after the append, in the order the streams were first named.
    stream_versions: tuple[int, ...]
    #: True when this is the stored result of an earlier append with the same command id.
    replayed: bool = False
    #: The opaque answer stored with the command (e.g. an HTTP status and body), if any.
    answer: bytes | None = None
