"""The facts of seating, as plain values: what every seat operation returns, one per fact.

registry.domain.seating makes them (and folds them: `Seating.apply`); registry.domain.events
stores each as an event (`seat_event`, `seat_change`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SessionState = Literal["open", "cancelled", "merged"]
ReleaseReason = Literal[
    "cancelled",
    "switched",
    "promoted",
    "registration-cancelled",
    # An organiser's change (registry.domain.reseating): the session or the event was cancelled,
    # or merged into a session the participant was in already.
    "session-cancelled",
    "event-cancelled",
    "merged",
]


@dataclass(frozen=True)
class Seated:
    participant_id: str
    session_id: str
    ticket: int
    replaced_session_id: str | None = None


@dataclass(frozen=True)
class Queued:
    participant_id: str
    session_id: str
    ticket: int
    fallback_session_ids: tuple[str, ...]
    replaces: str | None = None


@dataclass(frozen=True)
class Promoted:
    participant_id: str
    session_id: str
    ticket: int


@dataclass(frozen=True)
class Released:
    """A seat given up."""

    participant_id: str
    session_id: str
    reason: ReleaseReason


@dataclass(frozen=True)
class Dequeued:
    """A waitlist entry given up."""

    participant_id: str
    session_id: str
    reason: ReleaseReason


@dataclass(frozen=True)
class Moved:
    """A merge moved the seat into `into`, where it keeps its first `seated_at` (someone
    seated there already keeps that seat instead: `Released` with reason "merged")."""

    participant_id: str
    session_id: str
    into: str
    ticket: int


@dataclass(frozen=True)
class MovedToQueue:
    """A merge found `into` full: the seat became an entry at the end of its queue."""

    participant_id: str
    session_id: str
    into: str
    ticket: int


@dataclass(frozen=True)
class Requeued:
    """A merge moved a queue entry to the end of `into`'s queue."""

    participant_id: str
    session_id: str
    into: str
    ticket: int


Change = Seated | Queued | Promoted | Released | Dequeued | Moved | MovedToQueue | Requeued
