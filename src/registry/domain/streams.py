"""Stream ids: one place that builds them, so every tenant's data stays under its organisation.

Client-chosen ids are unique within an organisation (API.md), so every stream id carries it:
`event-<org>:<event>`, `participant-<org>:<event>:<participant>`. The gate's Redis hash tag is the
same `<org>:<event>` (src/registry/capacity/).
"""

from __future__ import annotations

import hashlib
import hmac


def event_key(organisation: str, event_id: str) -> str:
    return f"{organisation}:{event_id}"


def event_stream(organisation: str, event_id: str) -> str:
    return f"event-{event_key(organisation, event_id)}"


def participant_stream(organisation: str, event_id: str, participant_id: str) -> str:
    return f"participant-{event_key(organisation, event_id)}:{participant_id}"


def email_stream(organisation: str, event_id: str, email: str, key: bytes) -> str:
    """E-mails are compared case-insensitively (API.md); the stream id holds an HMAC of the
    address under the organisation's `key`, kept in the database and never in the log. A plain
    hash would let anyone holding the log test guessed addresses (a dictionary attack); with
    the key, only someone who also holds the database can (docs/decisions.md)."""
    address = email.strip().casefold().encode()
    digest = hmac.new(key, address, hashlib.sha256).hexdigest()[:40]
    return f"email-{event_key(organisation, event_id)}:{digest}"


def participant_stream_prefix(organisation: str, event_id: str) -> str:
    """Every participant stream of one event starts with this (for the gate's rebuild)."""
    return f"participant-{event_key(organisation, event_id)}:"
