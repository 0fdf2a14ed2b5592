"""Rebuilds asked for at once share one: every append that fails in a way that may have come after
its commit (a dropped connection) asks for a rebuild of the event's gate (seat_appends.py), and a
rebuild folds the event's whole log. Under a burst of such failures (PostgreSQL's connections
terminated under load: tests/faults/) each used to run its own rebuild in turn, the gate not ready
all the while. A rebuild whose fence was taken after a request serves it: the log it folds holds
whatever that failed append committed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_key
from registry.eventstore import AppendResult, EventCodec, StreamAppend
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from tests.support.small_event import open_event

PEOPLE = [f"p{n}" for n in range(20)]


class ConnectionsDropped(MemoryEventStore):
    """While `dropping`, every append of a participant's sign-up raises as a dropped connection
    would; `fences` counts the rebuilds."""

    def __init__(self) -> None:
        super().__init__(EventCodec(ALL_EVENTS))
        self.dropping = False
        self.fences = 0
        self._in_flight = 0
        self._all_in_flight = asyncio.Event()

    async def append(self, appends: Sequence[StreamAppend], **kw: Any) -> AppendResult:
        if self.dropping:  # in flight together, then every connection drops at once
            self._in_flight += 1
            if self._in_flight == len(PEOPLE):
                self._all_in_flight.set()
            await self._all_in_flight.wait()
            raise ConnectionResetError("connection dropped")
        return await super().append(appends, **kw)

    @contextlib.asynccontextmanager
    async def gate_fence(self, key: str) -> AsyncIterator[int]:
        async with super().gate_fence(key) as epoch:
            self.fences += 1
            await asyncio.sleep(0.01)  # the fold
            yield epoch


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


async def test_a_burst_of_failed_appends_shares_the_rebuilds() -> None:
    store = ConnectionsDropped()
    keeper = GateKeeper(store, MemoryGate())
    await open_event(keeper, ctx, {"a": (14, 5)})
    for p in PEOPLE:
        register = cmd.RegisterParticipant(id=p, name=p, email=f"{p}@x.nl")
        await registration.register_participant(keeper, ctx(f"r-{p}"), "e", register)
    store.dropping, store.fences = True, 0
    signed = await asyncio.gather(
        *(
            registration.sign_up(keeper, ctx(f"s-{p}"), "e", p, cmd.SignUp(session_id="a"))
            for p in PEOPLE
        ),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, ConnectionResetError) for outcome in signed)
    # The first failure's rebuild began before the others were reported: they cannot rely on
    # it (their appends might have committed after its fold), and share the next one.
    assert store.fences == 2
    store.dropping = False
    seating = await keeper.gate.seating(event_key("acme", "e"))
    assert seating.sessions["a"].seated == {} and seating.busy == {}


async def test_a_rebuild_that_failed_serves_nobody() -> None:
    store = ConnectionsDropped()
    keeper = GateKeeper(store, MemoryGate())
    await open_event(keeper, ctx, {"a": (14, 5)})
    real_fold = store.gate_fence
    failures = [ConnectionResetError("database away")]

    @contextlib.asynccontextmanager
    async def failing_once(key: str) -> AsyncIterator[int]:
        async with real_fold(key) as epoch:
            if failures:
                raise failures.pop()
            yield epoch

    store.gate_fence = failing_once  # type: ignore[method-assign]
    store.fences = 0
    async with keeper.rebuilding("acme", "e"):  # both asked before either began
        asked = [asyncio.create_task(keeper.rebuild("acme", "e")) for _ in "ab"]
        await asyncio.sleep(0)
    first, second = await asyncio.gather(*asked, return_exceptions=True)
    assert isinstance(first, ConnectionResetError)
    assert isinstance(second, int), "the first failed: the second rebuilt itself"
    assert store.fences == 2
    assert await keeper.gate.is_ready(event_key("acme", "e"))
