"""Errors of the event store. Each is typed and carries what a caller needs to act on it."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error the store raises on purpose."""


class InvalidAppend(EventStoreError):
    """The append itself is malformed; nothing was written."""


class InvalidStreamId(InvalidAppend):
    def __init__(self, stream_id: str) -> None:
        super().__init__(f"malformed stream id: {stream_id!r}")
        self.stream_id = stream_id


class UnknownEventType(InvalidAppend):
    def __init__(self, type_name: str, schema_version: int | None = None) -> None:
        version = "" if schema_version is None else f" (schema version {schema_version})"
        super().__init__(f"unknown event type: {type_name!r}{version}")
        self.type_name = type_name
        self.schema_version = schema_version


class PayloadTooLarge(InvalidAppend):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"event payload of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class WrongExpectedVersion(EventStoreError):
    """A stream was not at the version the append expected; nothing was written."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(
            f"wrong expected version for stream {stream_id!r}: expected {expected}, actual {actual}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class CommandIdReused(EventStoreError):
    """A command id was recorded before with another fingerprint (another request body)."""

    def __init__(self, command_id: str) -> None:
        super().__init__(f"command id {command_id!r} was used before for a different command")
        self.command_id = command_id


class AppendNotFirstWrite(EventStoreError):
    """An append ran in a transaction that had written before; see the append_events function."""


class StaleGateDecision(EventStoreError):
    """The gate was rebuilt after this decision was made; nothing was written (decide again)."""

    def __init__(self, key: str, epoch: int, current: int | None) -> None:
        super().__init__(f"gate decision of epoch {epoch} for {key} is stale (current {current})")
        self.key = key
        self.epoch = epoch
        self.current = current


class ArchivedHistory(EventStoreError):
    """A read needs positions of the log that `registry log archive` moved out of the database
    into files (migrations/0063): they are named, with the file, instead of being skipped."""

    def __init__(self, first: int, last: int, file: str, *, stream_id: str | None = None) -> None:
        whose = "" if stream_id is None else f" (stream {stream_id} begins there)"
        super().__init__(
            f"positions {first}-{last} of the log are archived in file {file}{whose}: "
            "read them from the archive (registry.archive), e.g. `registry projections "
            "rebuild` and `registry verify` do when the file is at hand"
        )
        self.first = first
        self.last = last
        self.file = file
        self.stream_id = stream_id
