"""Maps event classes to (type name, schema version, JSON) and back, upcasting old versions on read.

Stored events are never rewritten: when a fact's shape changes, its class gets a new schema version
and an upcaster turns each older stored shape into the next one when it is read (the approach of
pyeventsourcing's "upcasting", https://eventsourcing.readthedocs.io/en/stable/topics/domain.html).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from registry.domain.event import Event, Upcaster
from registry.eventstore.errors import UnknownEventType

_encoder = msgspec.json.Encoder()


class EventCodec:
    def __init__(self, classes: Iterable[type[Event]] = ()) -> None:
        self._classes: dict[str, type[Event]] = {}
        self._decoders: dict[str, msgspec.json.Decoder[Any]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[Event]) -> type[Event]:
        name = cls.type_name
        known = self._classes.get(name)
        if known is not None and known is not cls:
            raise ValueError(f"event type {name!r} is registered twice: {known} and {cls}")
        self._classes[name] = cls
        self._decoders[name] = msgspec.json.Decoder(cls)
        for from_version, upcaster in cls.upcasters.items():
            self.register_upcaster(name, from_version, upcaster)
        return cls

    def register_upcaster(self, type_name: str, from_version: int, upcaster: Upcaster) -> None:
        """Register how data of `type_name` at `from_version` becomes `from_version + 1`."""
        self._upcasters[(type_name, from_version)] = upcaster

    def knows(self, cls: type[Event]) -> bool:
        return self._classes.get(cls.type_name) is cls

    def encode(self, event: Event) -> bytes:
        if not self.knows(type(event)):
            raise UnknownEventType(getattr(type(event), "type_name", type(event).__name__))
        return _encoder.encode(event)

    def decode(self, type_name: str, schema_version: int, data: bytes | str) -> Event:
        cls = self._classes.get(type_name)
        if cls is None:
            raise UnknownEventType(type_name, schema_version)
        if schema_version == cls.schema_version:
            event: Event = self._decoders[type_name].decode(data)
            return event
        if schema_version > cls.schema_version:
            # Written by a newer release than this one: refuse rather than drop fields silently.
            raise UnknownEventType(type_name, schema_version)
        raw: dict[str, Any] = msgspec.json.decode(data)
        for version in range(schema_version, cls.schema_version):
            upcaster = self._upcasters.get((type_name, version))
            if upcaster is None:
                raise UnknownEventType(type_name, schema_version)
            raw = upcaster(raw)
        return msgspec.convert(raw, cls)
