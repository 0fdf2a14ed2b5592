"""The capacity gate: the interface every adapter implements (MemoryGate, RedisGate).

The write path (DESIGN.md section 2): command -> validate -> gate -> append -> confirm -> answer.
A decision follows registry.domain.seating exactly (the spec) and is a *hold* tied to the
command id, with an expiry: repeating the command id returns the stored changes and applies
nothing. After the append commits, `confirm`; after it failed, `release`, which undoes the
decision when that is exact and otherwise marks the event dirty (`is_ready` turns false until
`load` rebuilds it from the log). One contract suite, tests/contract/test_capacity_gate.py, holds
every adapter to the same behaviour, in the manner of the event store's (eventstore/store.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Final, Literal, Protocol

from registry.capacity.errors import (
    CommandIdConflict,
    GateNotReady,
    NotOnRoster,
    ParticipantBusy,
)
from registry.capacity.roster import NOBODY, AdmitOutcome, Roster
from registry.domain.seating import Change, Seating

__all__ = [
    "DEFAULT_ANSWER_TTL_MS",
    "DEFAULT_HOLD_TTL_MS",
    "AdmitOutcome",
    "CapacityGate",
    "ClaimOutcome",
    "CommandIdConflict",
    "ConfirmOutcome",
    "Decision",
    "GateNotReady",
    "NotOnRoster",
    "ParticipantBusy",
    "RegistrationState",
    "ReleaseOutcome",
    "Roster",
    "hold_group",
    "wall_clock_ms",
]

RegistrationState = Literal["open", "closed", "cancelled"]

#: What `release` did: undid the decision exactly, marked the event dirty (or found it not
#: ready), found it confirmed already (the append committed: nothing is undone), or knew no
#: hold by that command id (released before, never decided, or lost with the gate's data).
ReleaseOutcome = Literal["undone", "dirty", "confirmed", "unknown"]

#: What `claim` found: the event ready (nothing to rebuild), another process's rebuild or load
#: under way ("busy": wait for it, `is_ready` does), or the rebuild now this caller's to do.
ClaimOutcome = Literal["ready", "busy", "claimed"]

#: What `confirm` did: confirmed the hold now ("fill": and `promote` is due, Seating.hand_over),
#: found it confirmed before, or knew no hold by that command id.
ConfirmOutcome = Literal["confirmed", "fill", "settled", "unknown"]

#: How long a decision is held before the reconciler settles it from the log (DESIGN.md).
DEFAULT_HOLD_TTL_MS: Final = 30_000
#: How long a confirmed decision's answer is kept for a late twin of the command.
DEFAULT_ANSWER_TTL_MS: Final = 600_000


class Decision(list[Change]):
    """What one decision changed, in order: a list, exactly as Seating returns it, carrying
    beside it what the write path needs from the same atomic step:

    - `epoch`: the epoch of the load (rebuild) the decision was made on; the append is fenced on
      it, so a decision of a gate rebuilt meanwhile is refused (EventStore.gate_fence);
    - `waitlist_position`: for a sign-up that queued, the participant's place in that queue at
      the moment of the answer (None otherwise, or once no longer waiting);
    - `replayed`: the command id was decided before; these are its stored changes.
    """

    def __init__(
        self,
        changes: Iterable[Change] = (),
        *,
        epoch: int = 0,
        waitlist_position: int | None = None,
        replayed: bool = False,
    ) -> None:
        super().__init__(changes)
        self.epoch = epoch
        self.waitlist_position = waitlist_position
        self.replayed = replayed

    @property
    def changes(self) -> list[Change]:
        return list(self)


def hold_group(command_id: str) -> str:
    """Holds of one command share a group: "<command id>#<n>" for the n-th decision of a
    command that makes several (a whole registration form, handlers/registration.py). A
    participant busy with a hold of the same group may be decided on again."""
    return command_id.partition("#")[0]


def wall_clock_ms() -> int:
    """Hold expiries are wall-clock milliseconds, comparable across API processes."""
    return time.time_ns() // 1_000_000


class CapacityGate(Protocol):
    """Seats and waitlists per event (`event_key` is "<org>:<event>")."""

    async def load(
        self,
        event_key: str,
        seating: Seating,
        registration: RegistrationState,
        epoch: int = 0,
        roster: Roster = NOBODY,
    ) -> None:
        """Replace everything held for the event (the rebuild from the log): clears holds,
        kept answers and the dirty mark; afterwards the event is ready and every decision
        reports `epoch` (the store's gate fence epoch of this rebuild). `roster`: who the log
        says is registered and who cancelled (roster.py); nobody, when not given."""
        ...

    async def admit(self, event_key: str, participant_id: str) -> AdmitOutcome:
        """Put a participant the log says is registered on the roster, unless the gate knows
        their registration was cancelled (roster.py)."""
        ...

    async def set_registration(self, event_key: str, state: RegistrationState) -> None:
        """Registration opened, closed, or the event cancelled. Raises GateNotReady."""
        ...

    async def sign_up(
        self,
        event_key: str,
        command_id: str,
        participant_id: str,
        session_id: str,
        replaces: str | None = None,
        *,
        on_roster: bool = False,
    ) -> Decision:
        """Seating.sign_up as a hold. Refusals, first match wins (API.md): UnknownId,
        InvalidCommand (`replaces` not held), EventCancelled, RegistrationClosed,
        SessionCancelled, AlreadySignedUp, TimeConflict, SessionFull. Raises GateNotReady,
        CommandIdConflict, NotOnRoster (only `on_roster`: the participant must be on the
        roster) and ParticipantBusy (busy with a hold of another group, Seating.busy) before
        any of them."""
        ...

    async def leave(
        self,
        event_key: str,
        command_id: str,
        participant_id: str,
        session_id: str,
        *,
        on_roster: bool = False,
    ) -> Decision:
        """Seating.leave as a hold (allowed whatever the registration state). Raises UnknownId,
        NotSignedUp; and the errors of the gate as sign_up."""
        ...

    async def leave_all(
        self, event_key: str, command_id: str, participant_id: str, *, on_roster: bool = False
    ) -> Decision:
        """Seating.leave_all as a hold (allowed whatever the registration state): the
        registration is cancelled, so the participant moves to the roster's `cancelled` (back,
        if the release undoes it); the errors of the gate as sign_up."""
        ...

    async def promote(
        self, event_key: str, command_id: str, *, only_if_due: bool = False
    ) -> Decision:
        """Seating.fill_free_seats as a hold: promote queue heads into seats that are free (a
        confirmed decision gave one back while a queue formed, or a rebuild found one). Empty,
        and nothing held, when no seat is free beside a queue. With `only_if_due` (the
        reconciler's), empty without looking unless a fill may be due: since a confirm or
        release answered that one is (`hand_over`), or since a load, and no fill since.
        Raises GateNotReady, CommandIdConflict."""
        ...

    async def confirm(self, event_key: str, command_id: str) -> ConfirmOutcome:
        """The append committed: drop the hold, give back what the decision kept (seats held
        back, people busy: Seating.hand_over) and keep its answer for late twins."""
        ...

    async def release(self, event_key: str, command_id: str) -> ReleaseOutcome:
        """The append failed (or the reconciler found no such command in the log): undo the
        decision if that is exact, else mark the event dirty."""
        ...

    async def expired_holds(self, event_key: str, now_ms: int) -> list[str]:
        """Command ids whose hold expired by `now_ms` and is still unsettled, oldest first."""
        ...

    async def is_ready(self, event_key: str) -> bool:
        """Loaded, not lost and not dirty: decisions may be made. While the event is not ready
        and another process's claim or load of it is under way, waits for that to end."""
        ...

    def claim(self, event_key: str) -> AbstractAsyncContextManager[ClaimOutcome]:
        """Claim the rebuild of an event that is not ready, for as long as the context lasts
        (the fold from the log, then `load`), so that other processes wait for it (`is_ready`)
        instead of folding the same log again. "ready" and "busy" claim nothing. A claimant
        that dies is waited for only until its lease runs out (RedisGate)."""
        ...

    async def waitlist_position(
        self, event_key: str, session_id: str, participant_id: str
    ) -> int | None:
        """The participant's 1-based place in the session's queue, or None if not waiting.
        Raises GateNotReady."""
        ...

    async def seating(self, event_key: str) -> Seating:
        """A copy of everything held for the event. Raises GateNotReady."""
        ...

    async def roster(self, event_key: str) -> Roster:
        """Who is on the event's roster now (for checks against the log). Raises GateNotReady."""
        ...
