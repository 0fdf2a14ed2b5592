"""Keeping the capacity gate in step with the log.

The gate (Redis) is only ever a cache of the log's seat facts. It is rebuilt for one event inside
the store's gate fence: appends of decisions in flight finish first, the fence's epoch moves on so
that decisions of the old gate can no longer be appended (StaleGateDecision), and the gate is
loaded with the seating folded from the log and the new epoch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from registry.capacity.gate import CapacityGate, GateNotReady
from registry.domain.events import SeatEvent, seat_change
from registry.domain.seating import Seating, SessionSeats
from registry.domain.streams import event_key, participant_stream_prefix
from registry.eventstore import EventStore
from registry.handlers.loading import load_programme

T = TypeVar("T")
log = structlog.get_logger(__name__)


class GateUnavailable(RuntimeError):
    """The gate could not be made ready (503 `unavailable`, retry shortly)."""


async def rebuild(store: EventStore, gate: CapacityGate, organisation: str, event_id: str) -> int:
    """Rebuild one event's gate from the log; returns the new epoch."""
    key = event_key(organisation, event_id)
    async with store.gate_fence(key) as epoch:
        programme, _ = await load_programme(store, organisation, event_id)
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
        for recorded in await store.read_streams(participant_stream_prefix(organisation, event_id)):
            if isinstance(recorded.event, SeatEvent):
                seating.apply(seat_change(recorded.event))
        registration = "cancelled" if programme.state == "cancelled" else programme.registration
        await gate.load(key, seating, registration, epoch)
    return epoch


class GateKeeper:
    """Runs gate decisions, rebuilding an event's gate first when it is not ready (Redis lost
    its data, or a failed append marked it dirty). One rebuild per event at a time per process."""

    def __init__(self, store: EventStore, gate: CapacityGate) -> None:
        self.store = store
        self.gate = gate
        self._locks: dict[str, asyncio.Lock] = {}

    async def decide(
        self, organisation: str, event_id: str, decision: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            return await decision()
        except GateNotReady:
            pass
        key = event_key(organisation, event_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if not await self.gate.is_ready(key):
                await rebuild(self.store, self.gate, organisation, event_id)
        try:
            return await decision()
        except GateNotReady as error:
            raise GateUnavailable(f"the capacity gate of {key} is being rebuilt") from error

    async def rebuild_quietly(self, organisation: str, event_id: str) -> None:
        """Rebuild on an error path: if that fails too (the database is away), the hold expires
        and the reconciler rebuilds later; the original error is what the caller reports."""
        try:
            await self.rebuild(organisation, event_id)
        except Exception:
            log.warning(
                "gate rebuild failed", event=event_key(organisation, event_id), exc_info=True
            )

    async def rebuild(self, organisation: str, event_id: str) -> int:
        lock = self._locks.setdefault(event_key(organisation, event_id), asyncio.Lock())
        async with lock:
            return await rebuild(self.store, self.gate, organisation, event_id)
