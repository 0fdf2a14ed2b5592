"""Errors of the capacity gate itself (the domain's refusals are registry.domain.errors)."""

from __future__ import annotations


class GateError(Exception):
    """The gate cannot decide; nothing was decided."""


class GateNotReady(GateError):
    """The gate holds no trustworthy state for this event: never loaded, lost (FLUSHALL, a
    restarted Redis without its data) or marked dirty by a release it could not undo. Rebuild
    the event from the log (`load`), or answer 503."""

    def __init__(self, event_key: str) -> None:
        super().__init__(f"the capacity gate is not ready for event {event_key}")
        self.event_key = event_key


class CommandIdConflict(GateError):
    """A command id already decided another command (another participant, session or kind)."""

    def __init__(self, event_key: str, command_id: str) -> None:
        super().__init__(f"command id {command_id} was used for another command in {event_key}")
        self.event_key = event_key
        self.command_id = command_id


class ParticipantBusy(GateError):
    """A decision about this participant is not in the log yet (its append is in flight): a
    decision on top of it could follow from facts the log never gets. Try again in a moment."""

    def __init__(self, event_key: str, participant_id: str) -> None:
        super().__init__(f"participant {participant_id} of {event_key} has a decision in flight")
        self.event_key = event_key
        self.participant_id = participant_id


class NotOnRoster(GateError):
    """A decision asked `on_roster` for a participant the gate's roster does not name as
    registered: `cancelled` when their registration was cancelled (the gate knows it: 404),
    otherwise the gate has not met them since its load. Check the log, `admit`, decide again."""

    def __init__(self, event_key: str, participant_id: str, *, cancelled: bool) -> None:
        state = "cancelled their registration" if cancelled else "is not on the roster"
        super().__init__(f"participant {participant_id} of {event_key} {state}")
        self.event_key = event_key
        self.participant_id = participant_id
        self.cancelled = cancelled
