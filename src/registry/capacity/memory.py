"""The capacity gate in memory: registry.domain.seating.Seating per event, plus holds.

The reference adapter: the contract suite runs it beside RedisGate, and whatever it decides is
by construction what the spec decides. Each method runs to completion without awaiting, so it is
atomic under asyncio, as a Lua script is in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from registry.capacity import wire
from registry.capacity.errors import CommandIdConflict, GateNotReady, NotOnRoster, ParticipantBusy
from registry.capacity.gate import (
    DEFAULT_ANSWER_TTL_MS,
    DEFAULT_HOLD_TTL_MS,
    ClaimOutcome,
    ConfirmOutcome,
    Decision,
    RegistrationState,
    ReleaseOutcome,
    hold_group,
    wall_clock_ms,
)
from registry.capacity.marks import Before, Marks, Step, undo, undoable
from registry.capacity.roster import NOBODY, AdmitOutcome, Roster
from registry.domain.errors import EventCancelled, InvalidCommand, RegistrationClosed
from registry.domain.seating import Change, Queued, Seating, touched

Fingerprint = tuple[str, str, str, str]


@dataclass
class _Hold:
    fingerprint: Fingerprint
    participant_id: str
    changes: list[Change]
    version: int
    steps: list[Step] | None  # None: not undoable exactly
    expires_at: int
    kept_until: int | None = None  # set by confirm
    #: leave_all: (registered, cancelled) of the participant before it; release restores them.
    roster_before: tuple[bool, bool] | None = None
    #: leave_all that touched nobody: its participant is kept busy by this hold all the same.
    also_busy: bool = False


@dataclass
class _Event:
    seating: Seating
    registration: RegistrationState
    marks: Marks
    epoch: int
    dirty: bool = False
    holds: dict[str, _Hold] = field(default_factory=dict)
    #: Participant -> the hold group that made them busy (Seating.busy, gate.hold_group).
    busy_by: dict[str, str] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)  # the roster (roster.py)
    cancelled: set[str] = field(default_factory=set)
    #: A fill may be due: since a hand-over said so, or since the load (promote's only_if_due).
    fill_due: bool = True

    def check_roster(self, event_key: str, participant_id: str) -> None:
        if participant_id in self.cancelled:
            raise NotOnRoster(event_key, participant_id, cancelled=True)
        if participant_id not in self.registered:
            raise NotOnRoster(event_key, participant_id, cancelled=False)


class MemoryGate:
    """CapacityGate in one process (tests, and the reference for RedisGate)."""

    def __init__(
        self,
        *,
        hold_ttl_ms: int = DEFAULT_HOLD_TTL_MS,
        answer_ttl_ms: int = DEFAULT_ANSWER_TTL_MS,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._events: dict[str, _Event] = {}
        #: Events whose rebuild a caller claimed (no lease: a claimant dies with its gate).
        self._claims: dict[str, asyncio.Event] = {}
        self._hold_ttl_ms = hold_ttl_ms
        self._answer_ttl_ms = answer_ttl_ms
        self._clock = clock

    def forget(self, event_key: str) -> None:
        """Lose everything held for the event, as a FLUSHALL would (for tests)."""
        self._events.pop(event_key, None)

    def _ready(self, event_key: str) -> _Event:
        event = self._events.get(event_key)
        if event is None or event.dirty:
            raise GateNotReady(event_key)
        return event

    # -- decisions --------------------------------------------------------------------------

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
        event = self._ready(event_key)
        fingerprint = ("sign_up", participant_id, session_id, replaces or "")
        if (held := self._replay(event_key, event, command_id, fingerprint)) is not None:
            return held
        self._not_busy(event_key, event, command_id, participant_id)
        if on_roster:  # after: a cancellation in flight keeps its participant busy
            event.check_roster(event_key, participant_id)
        seating = event.seating
        # The 422s first, in Seating.sign_up's order, then the registration state: API.md puts
        # unknown ids inside the body before event-cancelled and registration-closed.
        seating.session(session_id)
        if replaces is not None:
            replaced = seating.sessions.get(replaces)
            if replaced is None or participant_id not in replaced.seated:
                raise InvalidCommand(
                    f"participant {participant_id} holds no seat in {replaces} to replace",
                    "replaces",
                )
        event_id = event_key.partition(":")[2] or event_key
        if event.registration == "cancelled":
            raise EventCancelled(event_id)
        if event.registration != "open":
            raise RegistrationClosed(event_id)
        before = event.marks.before(seating, participant_id)
        changes = seating.sign_up(participant_id, session_id, replaces)
        return self._hold(event, command_id, fingerprint, participant_id, changes, before)

    async def leave(
        self,
        event_key: str,
        command_id: str,
        participant_id: str,
        session_id: str,
        *,
        on_roster: bool = False,
    ) -> Decision:
        event = self._ready(event_key)
        fingerprint = ("leave", participant_id, session_id, "")
        if (held := self._replay(event_key, event, command_id, fingerprint)) is not None:
            return held
        self._not_busy(event_key, event, command_id, participant_id)
        if on_roster:  # after: a cancellation in flight keeps its participant busy
            event.check_roster(event_key, participant_id)
        before = event.marks.before(event.seating, participant_id)
        changes = event.seating.leave(participant_id, session_id)
        return self._hold(event, command_id, fingerprint, participant_id, changes, before)

    async def leave_all(
        self, event_key: str, command_id: str, participant_id: str, *, on_roster: bool = False
    ) -> Decision:
        event = self._ready(event_key)
        fingerprint = ("leave_all", participant_id, "", "")
        if (held := self._replay(event_key, event, command_id, fingerprint)) is not None:
            return held
        self._not_busy(event_key, event, command_id, participant_id)
        if on_roster:  # after: a cancellation in flight keeps its participant busy
            event.check_roster(event_key, participant_id)
        before = event.marks.before(event.seating, participant_id)
        changes = event.seating.leave_all(participant_id)
        decision = self._hold(event, command_id, fingerprint, participant_id, changes, before)
        hold = event.holds[command_id]
        hold.roster_before = (participant_id in event.registered, participant_id in event.cancelled)
        event.registered.discard(participant_id)
        event.cancelled.add(participant_id)
        if participant_id not in touched(changes):  # busy until settled, as holds.lua's `b`
            busy = event.seating.busy
            busy[participant_id] = busy.get(participant_id, 0) + 1
            event.busy_by[participant_id] = hold_group(command_id)
            hold.also_busy = True
        return decision

    async def promote(
        self, event_key: str, command_id: str, *, only_if_due: bool = False
    ) -> Decision:
        event = self._ready(event_key)
        fingerprint = ("promote", "", "", "")
        if (held := self._replay(event_key, event, command_id, fingerprint)) is not None:
            return held
        if only_if_due and not event.fill_due:
            return _decision(event, [])
        event.fill_due = False
        before = event.marks.before(event.seating, "")
        changes = event.seating.fill_free_seats()
        if not changes:
            return _decision(event, changes)
        return self._hold(event, command_id, fingerprint, "", changes, before)

    def _not_busy(
        self, event_key: str, event: _Event, command_id: str, participant_id: str
    ) -> None:
        if participant_id in event.seating.busy and event.busy_by.get(participant_id) != hold_group(
            command_id
        ):
            raise ParticipantBusy(event_key, participant_id)

    def _replay(
        self, event_key: str, event: _Event, command_id: str, fingerprint: Fingerprint
    ) -> Decision | None:
        hold = event.holds.get(command_id)
        if hold is None:
            now = self._clock()
            for old in [c for c, h in event.holds.items() if h.kept_until and h.kept_until <= now]:
                del event.holds[old]
            return None
        if hold.fingerprint != fingerprint:
            raise CommandIdConflict(event_key, command_id)
        return _decision(event, hold.changes, replayed=True)

    def _hold(
        self,
        event: _Event,
        command_id: str,
        fingerprint: Fingerprint,
        participant_id: str,
        changes: list[Change],
        before: Before,
    ) -> Decision:
        event.marks.track(changes)
        event.seating.withhold(changes)
        for touched_id in touched(changes):
            event.busy_by[touched_id] = hold_group(command_id)
        event.holds[command_id] = _Hold(
            fingerprint=fingerprint,
            participant_id=participant_id,
            changes=list(changes),
            version=event.marks.version.get(participant_id, 0),
            steps=event.marks.steps(changes, before),
            expires_at=self._clock() + self._hold_ttl_ms,
        )
        return _decision(event, changes)

    # -- holds ------------------------------------------------------------------------------

    async def confirm(self, event_key: str, command_id: str) -> ConfirmOutcome:
        event = self._events.get(event_key)
        hold = event.holds.get(command_id) if event else None
        if event is None or hold is None:
            return "unknown"
        if hold.kept_until is not None:
            return "settled"
        hold.kept_until = self._clock() + self._answer_ttl_ms
        hold.steps = None
        return "fill" if self._hand_over(event, hold) else "confirmed"

    def _hand_over(self, event: _Event, hold: _Hold) -> bool:
        fill = event.seating.hand_over(hold.changes)
        event.fill_due = event.fill_due or fill
        people = touched(hold.changes)
        if hold.also_busy:
            busy, p = event.seating.busy, hold.participant_id
            if busy.get(p, 0) <= 1:
                busy.pop(p, None)
            else:
                busy[p] -= 1
            people.append(p)
        for touched_id in people:
            if touched_id not in event.seating.busy:
                event.busy_by.pop(touched_id, None)
        return fill

    async def release(self, event_key: str, command_id: str) -> ReleaseOutcome:
        event = self._events.get(event_key)
        hold = event.holds.get(command_id) if event else None
        if event is None or hold is None:
            return "unknown"
        if hold.kept_until is not None:
            return "confirmed"
        del event.holds[command_id]
        if event.dirty:
            return "dirty"
        p, steps, marks = hold.participant_id, hold.steps, event.marks
        if (
            steps is not None
            and marks.version.get(p, 0) == hold.version
            and all(undoable(event.seating, marks, p, step) for step in steps)
        ):
            self._hand_over(event, hold)
            undo(event.seating, marks, p, steps)
            if hold.roster_before is not None:
                was_registered, was_cancelled = hold.roster_before
                if was_registered:
                    event.registered.add(p)
                if not was_cancelled:
                    event.cancelled.discard(p)
            return "undone"
        event.dirty = True
        return "dirty"

    async def expired_holds(self, event_key: str, now_ms: int) -> list[str]:
        event = self._events.get(event_key)
        if event is None:
            return []
        expired = [
            (h.expires_at, c)
            for c, h in event.holds.items()
            if h.kept_until is None and h.expires_at <= now_ms
        ]
        return [c for _, c in sorted(expired)]

    # -- state ------------------------------------------------------------------------------

    async def load(
        self,
        event_key: str,
        seating: Seating,
        registration: RegistrationState,
        epoch: int = 0,
        roster: Roster = NOBODY,
    ) -> None:
        for session in seating.sessions.values():
            wire.to_wire(session)  # refuses what RedisGate cannot hold (times without offsets)
        mine = copy.deepcopy(seating)
        for session in mine.sessions.values():  # what holds kept went with the holds
            session.held_back = 0
            session.held_queue = 0
        mine.busy, mine.stalled = {}, set()
        if (claim := self._claims.pop(event_key, None)) is not None:
            claim.set()  # as RedisGate's load ends any claim
        self._events[event_key] = _Event(
            mine,
            registration,
            Marks.of(mine),
            epoch,
            registered=set(roster.registered - roster.cancelled),
            cancelled=set(roster.cancelled),
        )

    async def admit(self, event_key: str, participant_id: str) -> AdmitOutcome:
        event = self._events.get(event_key)
        if event is None or event.dirty:
            return "not ready"
        if participant_id in event.cancelled:
            return "cancelled"
        event.registered.add(participant_id)
        return "admitted"

    async def set_registration(self, event_key: str, state: RegistrationState) -> None:
        self._ready(event_key).registration = state

    async def is_ready(self, event_key: str) -> bool:
        while not self._is_ready(event_key) and (claim := self._claims.get(event_key)) is not None:
            await claim.wait()
        return self._is_ready(event_key)

    def _is_ready(self, event_key: str) -> bool:
        event = self._events.get(event_key)
        return event is not None and not event.dirty

    @contextlib.asynccontextmanager
    async def claim(self, event_key: str) -> AsyncIterator[ClaimOutcome]:
        if self._is_ready(event_key):
            yield "ready"
        elif event_key in self._claims:
            yield "busy"
        else:
            self._claims[event_key] = claim = asyncio.Event()
            try:
                yield "claimed"
            finally:
                if self._claims.get(event_key) is claim:
                    del self._claims[event_key]
                claim.set()

    async def waitlist_position(
        self, event_key: str, session_id: str, participant_id: str
    ) -> int | None:
        session = self._ready(event_key).seating.sessions.get(session_id)
        if session is None or participant_id not in session.waiting:
            return None
        return session.waitlist_position(participant_id)

    async def seating(self, event_key: str) -> Seating:
        return copy.deepcopy(self._ready(event_key).seating)

    async def roster(self, event_key: str) -> Roster:
        event = self._ready(event_key)
        return Roster(frozenset(event.registered), frozenset(event.cancelled))


def _decision(event: _Event, changes: list[Change], *, replayed: bool = False) -> Decision:
    position = None
    if changes and isinstance(first := changes[0], Queued):
        session = event.seating.sessions[first.session_id]
        if first.participant_id in session.waiting:
            position = session.waitlist_position(first.participant_id)
    return Decision(changes, epoch=event.epoch, waitlist_position=position, replayed=replayed)
