"""Keeping the capacity gate in step with the log.

The gate (Redis) is only ever a cache of the log's seat facts. It is rebuilt for one event through
the store's gate fence: appends of decisions in flight finish first, the seating is folded from the
log, the fence's epoch moves on so that decisions of the old gate can no longer be appended
(StaleGateDecision), and then the gate is loaded with that seating and the new epoch.

Loaded only once the fence has committed: loaded inside it, a fence whose commit failed (its
connection terminated, tests/faults/) would leave a gate that dropped the old decisions' holds
while the epoch had not moved, and those decisions, waiting on the fence's lock, were then
appended: facts the gate did not hold (seen: a promotion past the head of a queue). Between the
commit and the load the old gate's decisions are refused as stale and decided again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from registry.capacity.gate import (
    CapacityGate,
    GateNotReady,
    NotOnRoster,
    ParticipantBusy,
    RegistrationState,
    Roster,
)
from registry.domain.events import (
    ParticipantRegistered,
    RegistrationCancelled,
    SeatEvent,
    seat_change,
)
from registry.domain.programme import Programme
from registry.domain.seating import Seating, SessionSeats
from registry.domain.streams import event_key, participant_stream_prefix
from registry.eventstore import EventStore
from registry.handlers.loading import UnknownParticipant, ensure_participant, load_programme
from registry.handlers.turns import LINE_WAIT_S, Turns

T = TypeVar("T")
#: How long a command waits for its participant's decision in flight to reach the log.
BUSY_WAIT_S = 1.0
#: Decisions of one command about a participant the gate has not met: each miss reads the log
#: and admits; a second is a cancellation undone meanwhile, a third should not happen.
ROSTER_ATTEMPTS = 3
log = structlog.get_logger(__name__)


class GateUnavailable(RuntimeError):
    """The gate could not be made ready (503 `unavailable`, retry shortly)."""


async def rebuild(store: EventStore, gate: CapacityGate, organisation: str, event_id: str) -> int:
    """Rebuild one event's gate from the log; returns the new epoch."""
    key = event_key(organisation, event_id)
    async with store.gate_fence(key) as epoch:
        programme, _ = await load_programme(store, organisation, event_id)
        seating, roster = await fold_gate(store, organisation, programme)
    await gate.load(key, seating, registration_state(programme), epoch, roster)  # after the commit
    return epoch


async def fold_gate(
    store: EventStore, organisation: str, programme: Programme
) -> tuple[Seating, Roster]:
    """The event's seats and queues, and its roster (who is registered, who cancelled: as
    `loading.ensure_participant` says), folded from its participants' streams in one read."""
    seating = Seating(
        {
            s.session_id: SessionSeats(
                s.session_id,
                s.starts_at,
                s.ends_at,
                s.capacity,
                s.waitlist,
                s.state,
                s.merged_into,
            )
            for s in programme.sessions.values()
        }
    )
    registered: set[str] = set()
    cancelled: set[str] = set()
    prefix = participant_stream_prefix(organisation, programme.event_id)
    async with contextlib.aclosing(store.iter_streams(prefix)) as facts:
        async for recorded in facts:
            event = recorded.event
            if isinstance(event, SeatEvent):
                seating.apply(seat_change(event))
            elif isinstance(event, ParticipantRegistered):  # the last registration counts
                registered.add(event.participant_id)
                cancelled.discard(event.participant_id)
            elif isinstance(event, RegistrationCancelled) and event.participant_id in registered:
                registered.discard(event.participant_id)
                cancelled.add(event.participant_id)
    return seating, Roster(frozenset(registered), frozenset(cancelled))


def registration_state(programme: Programme) -> RegistrationState:
    return "cancelled" if programme.state == "cancelled" else programme.registration


class GateKeeper:
    """Runs gate decisions, rebuilding an event's gate first when it is not ready (Redis lost
    its data, or a failed append marked it dirty), and waiting a moment while the participant
    is busy (a decision about them is not in the log yet: ParticipantBusy). One rebuild per
    event at a time per process; one command per participant at a time per process (`turns`)."""

    def __init__(
        self,
        store: EventStore,
        gate: CapacityGate,
        *,
        busy_wait_s: float = BUSY_WAIT_S,
        line_wait_s: float = LINE_WAIT_S,
    ) -> None:
        self.store = store
        self.gate = gate
        self.busy_wait_s = busy_wait_s
        #: Commands about one participant take turns in this process (handlers/turns.py).
        self.turns = Turns(line_wait_s)
        self._locks: dict[str, asyncio.Lock] = {}
        #: Per event: how many rebuilds this process began, and the number and epoch of the
        #: last that succeeded (`rebuild` lets a request share a rebuild begun after it).
        self._begun: dict[str, int] = {}
        self._rebuilt: dict[str, tuple[int, int]] = {}

    async def decide(
        self, organisation: str, event_id: str, decision: Callable[[], Awaitable[T]]
    ) -> T:
        """`decision` once the gate is ready and the participant is not busy; GateUnavailable
        when either takes too long."""
        try:
            # Nearly always the first try decides: no retrying machinery for it (tenacity's
            # per-call objects showed in the sign-up profile, issue 8).
            return await self._when_ready(organisation, event_id, decision)
        except ParticipantBusy:
            pass
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(ParticipantBusy),
                # Appends take milliseconds: start at 2 ms, double, and give up after a second
                # (a hold whose process died stays busy until the reconciler settles it).
                wait=wait_exponential(multiplier=0.002, max=0.2),
                stop=stop_after_delay(self.busy_wait_s),
                reraise=True,
            ):
                with attempt:
                    return await self._when_ready(organisation, event_id, decision)
        except ParticipantBusy as error:
            raise GateUnavailable(f"{error}; try again shortly") from error
        raise AssertionError("unreachable")

    async def decide_for(
        self,
        organisation: str,
        event_id: str,
        participant_id: str,
        decision: Callable[[], Awaitable[T]],
    ) -> T:
        """`decide` for a decision about a registered participant, made `on_roster`: when the
        gate has not met them since its load, the log says whether they are registered, the
        gate admits them and decides again. Raises UnknownParticipant (404) for someone not
        registered, or cancelled (capacity/roster.py)."""
        key = event_key(organisation, event_id)
        for _ in range(ROSTER_ATTEMPTS):
            try:
                return await self.decide(organisation, event_id, decision)
            except NotOnRoster as refused:
                if refused.cancelled:
                    raise UnknownParticipant(participant_id) from None
            await ensure_participant(self.store, organisation, event_id, participant_id)
            # "cancelled": a cancellation came between the log's answer and this. Decide
            # again rather than answer 404 at once: while that cancellation is in flight its
            # participant is busy (decide waits), and it may yet be undone.
            await self.gate.admit(key, participant_id)
        raise GateUnavailable(f"the capacity gate of {key} could not place {participant_id}")

    async def admit_quietly(self, organisation: str, event_id: str, participant_id: str) -> None:
        """Put a registration that committed on the roster. If that fails (Redis is away),
        their first sign-up checks the log instead (decide_for): nothing to report."""
        try:
            await self.gate.admit(event_key(organisation, event_id), participant_id)
        except Exception:
            log.warning("admit failed", participant_id=participant_id, exc_info=True)

    async def _when_ready(
        self, organisation: str, event_id: str, decision: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            return await decision()
        except GateNotReady:
            pass
        await self.make_ready(organisation, event_id)
        try:
            return await decision()
        except GateNotReady as error:
            key = event_key(organisation, event_id)
            raise GateUnavailable(f"the capacity gate of {key} is being rebuilt") from error

    async def make_ready(
        self, organisation: str, event_id: str, *, wait: bool = True
    ) -> bool | None:
        """Rebuild the event's gate unless it is ready: True if this call rebuilt it, False if
        it was ready (or another process made it so while this one waited). The rebuild is
        claimed in the gate first, so that processes finding the event not ready at once fold
        its log once, not once each (at start every worker did); `wait=False`: None, instead
        of waiting, when another process holds the claim."""
        key = event_key(organisation, event_id)
        async with self.rebuilding(organisation, event_id):
            while True:
                async with self.gate.claim(key) as claim:
                    if claim == "ready":
                        return False
                    if claim == "claimed":
                        await self._rebuild_locked(organisation, event_id)
                        return True
                if not wait:
                    return None
                await self.gate.is_ready(key)  # waits while the claim or its load lasts

    async def rebuild_quietly(self, organisation: str, event_id: str) -> None:
        """Rebuild on an error path: if that fails too (the database is away), the hold expires
        and the reconciler rebuilds later; the original error is what the caller reports."""
        try:
            await self.rebuild(organisation, event_id)
        except Exception:
            log.warning(
                "gate rebuild failed", event_key=event_key(organisation, event_id), exc_info=True
            )

    async def rebuild(self, organisation: str, event_id: str) -> int:
        """Rebuild the event's gate from the log; returns the epoch. Requests made together
        share one rebuild: a rebuild begun (its fence to be taken) after a request serves it,
        since its fold reads whatever the requester's failed append or change committed. A
        burst of failed appends (a batch of them, connections dropped) asked for one rebuild
        each, run in turn, the gate not ready all the while (tests/unit/
        test_gate_rebuild_coalesced.py: 20 failed sign-ups, 20 rebuilds)."""
        key = event_key(organisation, event_id)
        asked = self._begun.get(key, 0)
        async with self.rebuilding(organisation, event_id):
            number, epoch = self._rebuilt.get(key, (0, 0))
            if number > asked:
                return epoch
            return await self._rebuild_locked(organisation, event_id)

    async def _rebuild_locked(self, organisation: str, event_id: str) -> int:
        key = event_key(organisation, event_id)
        self._begun[key] = number = self._begun.get(key, 0) + 1
        epoch = await rebuild(self.store, self.gate, organisation, event_id)
        self._rebuilt[key] = (number, epoch)
        return epoch

    def rebuilding(self, organisation: str, event_id: str) -> asyncio.Lock:
        """This process's lock for loading the event's gate (one rebuild at a time)."""
        return self._locks.setdefault(event_key(organisation, event_id), asyncio.Lock())
