"""Stream ids: one place that builds them, so every tenant's data stays under its organisation.

Client-chosen ids are unique within an organisation (API.md), so every stream id carries it:
`event-<org>:<event>`, `participant-<org>:<event>:<participant>`. The gate's Redis hash tag is the
same `<org>:<event>` (src/registry/capacity/).
"""

from __future__ import annotations

import hashlib


def event_key(organisation: str, event_id: str) -> str:
    return f"{organisation}:{event_id}"


def event_stream(organisation: str, event_id: str) -> str:
    return f"event-{event_key(organisation, event_id)}"


def participant_stream(organisation: str, event_id: str, participant_id: str) -> str:
    return f"participant-{event_key(organisation, event_id)}:{participant_id}"


def email_stream(organisation: str, event_id: str, email: str) -> str:
    """E-mails are compared case-insensitively (API.md); the stream id holds a digest, not the
    address, so that erasing a participant's personal data leaves nothing readable here."""
    digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:40]
    return f"email-{event_key(organisation, event_id)}:{digest}"


def participant_stream_prefix(organisation: str, event_id: str) -> str:
    """Every participant stream of one event starts with this (for the gate's rebuild)."""
    return f"participant-{event_key(organisation, event_id)}:"
