"""Processes that find an event's gate not ready at the same time fold its log once, not once
each (GateKeeper.make_ready claims the rebuild in the gate): at start every worker used to
rebuild every event, the second fold's load replacing the first's. Two GateKeepers over one
store and one gate stand for two workers; the fence's epoch counts the rebuilds."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_key
from registry.eventstore import EventCodec
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import programme, registration, upkeep
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from tests.support.small_event import open_event

#: How long a fold takes here: long enough for the other worker to find the event mid-rebuild.
FOLD_S = 0.05


class SlowFolds(MemoryEventStore):
    """Every rebuild's fence lasts FOLD_S (a big event's fold); `fences` counts them per event."""

    def __init__(self) -> None:
        super().__init__(EventCodec(ALL_EVENTS))
        self.fences: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def gate_fence(self, key: str) -> AsyncIterator[int]:
        async with super().gate_fence(key) as epoch:
            self.fences[key] = self.fences.get(key, 0) + 1
            await asyncio.sleep(FOLD_S)
            yield epoch


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


@pytest.fixture
async def workers() -> tuple[GateKeeper, GateKeeper]:
    """Two workers over events "e" and "f", their gate lost (as after a restart of Redis)."""
    store, gate = SlowFolds(), MemoryGate()
    first = GateKeeper(store, gate)
    await open_event(first, ctx, {"a": (14, 1)})
    other = cmd.CreateEvent(id="f", title="F", timezone="UTC", date=dt.date(2024, 1, 12))
    await programme.create_event(first, ctx("f"), other)
    for name in ("ann", "bob"):
        register = cmd.RegisterParticipant(id=name, name=name, email=f"{name}@x.nl")
        await registration.register_participant(first, ctx(f"p-{name}"), "e", register)
    for event_id in ("e", "f"):
        gate.forget(event_key("acme", event_id))
    store.fences.clear()
    return first, GateKeeper(store, gate)


async def test_workers_starting_together_rebuild_each_event_once_and_share_them(
    workers: tuple[GateKeeper, GateKeeper],
) -> None:
    first, second = workers
    rebuilt = await asyncio.gather(upkeep.rebuild_unready(first), upkeep.rebuild_unready(second))
    store = first.store
    assert isinstance(store, SlowFolds)
    assert store.fences == {event_key("acme", "e"): 1, event_key("acme", "f"): 1}
    assert sorted(rebuilt) == [1, 1], "each worker rebuilt one event while the other waited"
    for event_id in ("e", "f"):
        assert await first.gate.is_ready(event_key("acme", event_id))


async def test_sign_ups_finding_the_gate_lost_wait_for_one_rebuild(
    workers: tuple[GateKeeper, GateKeeper],
) -> None:
    first, second = workers
    (ann, _), (bob, _) = await asyncio.gather(
        registration.sign_up(first, ctx("ann-a"), "e", "ann", cmd.SignUp(session_id="a")),
        registration.sign_up(second, ctx("bob-a"), "e", "bob", cmd.SignUp(session_id="a")),
    )
    store = first.store
    assert isinstance(store, SlowFolds)
    assert store.fences == {event_key("acme", "e"): 1}
    seating = await first.gate.seating(event_key("acme", "e"))
    assert seating.sessions["a"].seated.keys() | set(seating.sessions["a"].queue()) == {
        "ann",
        "bob",
    }
    assert (ann.status, bob.status) == (201, 201)
