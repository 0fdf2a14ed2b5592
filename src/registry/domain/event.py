"""The base of every stored fact.

An event is an immutable msgspec Struct named in the past tense. Its class says under which type
name and schema version it is stored; when a fact's shape changes, the class gets a new schema
version and an upcaster turns the old stored shape into the new one on read (stored events are
never rewritten).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import msgspec

#: Turns the stored data of version N (a dict) into the data of version N + 1.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    #: The name stored in the log's `type` column; stable for the life of the log.
    type_name: ClassVar[str]
    #: The version of this shape; bump it (and register an upcaster) when fields change.
    schema_version: ClassVar[int] = 1
    #: From-version -> its upcaster; every codec that registers the class registers these, so
    #: old rows read the same everywhere (the API, the projector, verify, the benchmarks).
    upcasters: ClassVar[Mapping[int, Upcaster]] = {}
