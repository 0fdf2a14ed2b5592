"""What every handler is given, and what it answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from registry.capacity.gate import CapacityGate
from registry.eventstore import EventStore, Metadata


@dataclass(frozen=True)
class Services:
    """The handlers' dependencies: the log and the gate (fakes in unit tests, real ones live)."""

    store: EventStore
    gate: CapacityGate


@dataclass(frozen=True)
class CommandContext:
    """Who sends this command, and under which id it is remembered.

    `command_id` is derived from the caller's Idempotency-Key (scoped to the API key, method and
    path, API.md "General") or random when none was given; `fingerprint` is a hash of the body, so
    a key reused for another body is told apart.
    """

    organisation: str
    actor: str
    command_id: str
    fingerprint: str | None = None
    remembered: bool = False  # True when the caller gave an Idempotency-Key

    def metadata(self) -> Metadata:
        return Metadata(command_id=self.command_id, actor=self.actor)


class Answer(msgspec.Struct, frozen=True):
    """A handler's answer: HTTP-agnostic status and body; `position` is added by the caller from
    the append's result, so that a replayed answer carries the position of the first run."""

    status: int
    body: dict[str, Any]


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def command_id(api_key_id: str, method: str, path: str, idempotency_key: str) -> str:
    scope = f"{api_key_id}\n{method}\n{path}\n{idempotency_key}".encode()
    return "idem:" + hashlib.sha256(scope).hexdigest()
