"""The base of every stored fact.

An event is an immutable msgspec Struct named in the past tense. Its class says under which type
name and schema version it is stored; when a fact's shape changes, the class gets a new schema
version and an upcaster turns the old stored shape into the new one on read (stored events are
never rewritten).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True):
    #: The name stored in the log's `type` column; stable for the life of the log.
    type_name: ClassVar[str]
    #: The version of this shape; bump it (and register an upcaster) when fields change.
    schema_version: ClassVar[int] = 1
