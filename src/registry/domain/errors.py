"""Domain errors. Each is mapped once to a problem type (src/registry/api/problems.py); the class
names say the rule that was broken, the fields say what the caller needs to act on it."""

from __future__ import annotations


class DomainError(Exception):
    """A command that breaks a rule; nothing was decided."""


class EventCancelled(DomainError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} is cancelled")
        self.event_id = event_id


class RegistrationClosed(DomainError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"registration for event {event_id} is closed")
        self.event_id = event_id


class AlreadyExists(DomainError):
    def __init__(
        self, what: str, id: str, participant_id: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(detail or f"{what} {id} already exists")
        self.what = what
        self.id = id
        self.participant_id = participant_id


class SessionCancelled(DomainError):
    def __init__(self, session_id: str, merged_into: str | None = None) -> None:
        state = f"merged into {merged_into}" if merged_into else "cancelled"
        super().__init__(f"session {session_id} is {state}")
        self.session_id = session_id
        self.merged_into = merged_into


class AlreadySignedUp(DomainError):
    def __init__(self, participant_id: str, session_id: str) -> None:
        super().__init__(f"participant {participant_id} is already signed up for {session_id}")
        self.participant_id = participant_id
        self.session_id = session_id


class RoomConflict(DomainError):
    def __init__(self, room_id: str, session_id: str, conflicting_session_id: str) -> None:
        super().__init__(
            f"room {room_id} is used by session {conflicting_session_id} at an overlapping time"
        )
        self.room_id = room_id
        self.session_id = session_id
        self.conflicting_session_id = conflicting_session_id


class TimeConflict(DomainError):
    def __init__(self, participant_id: str, session_id: str, conflicting_session_id: str) -> None:
        super().__init__(
            f"participant {participant_id} holds a seat in {conflicting_session_id}, "
            f"which overlaps {session_id}"
        )
        self.participant_id = participant_id
        self.session_id = session_id
        self.conflicting_session_id = conflicting_session_id


class SessionFull(DomainError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} is full and has no waitlist")
        self.session_id = session_id


class InvalidCommand(DomainError):
    """A value in the command breaks a rule of its shape (422 `validation-failed`)."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class UnknownId(InvalidCommand):
    """An id inside the command names nothing (422); an id in a path is a 404, decided above."""

    def __init__(self, what: str, id: str, field: str) -> None:
        super().__init__(f"unknown {what}: {id}", field)
        self.what = what
        self.id = id


class NotSignedUp(DomainError):
    """The participant has no seat and no waitlist entry in the session (404 for the path)."""

    def __init__(self, participant_id: str, session_id: str) -> None:
        super().__init__(f"participant {participant_id} is not signed up for {session_id}")
        self.participant_id = participant_id
        self.session_id = session_id


class NoSuchSession(DomainError):
    """The session id in the path names no session of the event (404)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown session: {session_id}")
        self.session_id = session_id
