"""The event store: append, read in order behind a fence, subscribe. See store.EventStore."""

from registry.eventstore.codec import EventCodec
from registry.eventstore.errors import (
    AppendNotFirstWrite,
    ArchivedHistory,
    CommandIdReused,
    EventStoreError,
    InvalidAppend,
    InvalidStreamId,
    PayloadTooLarge,
    StaleGateDecision,
    UnknownEventType,
    WrongExpectedVersion,
)
from registry.eventstore.model import (
    ANY,
    NO_STREAM,
    AppendResult,
    GateFence,
    Metadata,
    RecordedEvent,
    StreamAppend,
)
from registry.eventstore.personal import (
    DetailsErased,
    ParticipantDetails,
    PersonalData,
    PersonalWrite,
)
from registry.eventstore.store import EventStore

__all__ = [
    "ANY",
    "NO_STREAM",
    "AppendNotFirstWrite",
    "AppendResult",
    "ArchivedHistory",
    "CommandIdReused",
    "DetailsErased",
    "EventCodec",
    "EventStore",
    "EventStoreError",
    "GateFence",
    "InvalidAppend",
    "InvalidStreamId",
    "Metadata",
    "ParticipantDetails",
    "PayloadTooLarge",
    "PersonalData",
    "PersonalWrite",
    "RecordedEvent",
    "StaleGateDecision",
    "StreamAppend",
    "UnknownEventType",
    "WrongExpectedVersion",
]
