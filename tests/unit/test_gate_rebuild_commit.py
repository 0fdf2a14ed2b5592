"""A gate rebuild whose fence did not commit (its connection terminated: tests/faults/) must
leave the gate as it was. Loaded before the commit, the gate had dropped the holds of decisions
waiting on the fence, which were then appended at the old epoch, the fence never having moved:
facts the gate did not hold, and a later promotion past the head of a queue."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_key
from registry.eventstore import EventCodec, Metadata
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper, rebuild
from registry.handlers.seat_appends import append_decision
from tests.support.small_event import open_event

KEY = event_key("acme", "e")


class FenceCommitLost(MemoryEventStore):
    """`lose_commit`: the fence's block runs, then its commit fails and the epoch stays (as a
    PostgreSQL transaction rolled back)."""

    lose_commit = False

    @contextlib.asynccontextmanager
    async def gate_fence(self, key: str) -> AsyncIterator[int]:
        before = self._epochs.get(key, 0)  # the memory adapter's epochs: no rollback of its own
        async with super().gate_fence(key) as epoch:
            yield epoch
        if self.lose_commit:
            self._epochs[key] = before
            raise ConnectionResetError("the fence's commit was lost")


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


@pytest.fixture
async def keeper() -> GateKeeper:
    keeper = GateKeeper(FenceCommitLost(EventCodec(ALL_EVENTS)), MemoryGate())
    await open_event(keeper, ctx, {"a": (14, 1)})
    for name in ("ann", "bob"):
        register = cmd.RegisterParticipant(id=name, name=name, email=f"{name}@x.nl")
        await registration.register_participant(keeper, ctx(f"p-{name}"), "e", register)
    await registration.sign_up(keeper, ctx("1"), "e", "ann", cmd.SignUp(session_id="a"))
    return keeper


async def test_a_rebuild_whose_fence_did_not_commit_leaves_the_gate_as_it_was(
    keeper: GateKeeper,
) -> None:
    store = keeper.store
    assert isinstance(store, FenceCommitLost)
    # Bob's sign-up decided on the gate (he waits: ann has the seat); its append not yet made.
    decision = await keeper.gate.sign_up(KEY, "cmd-bob", "bob", "a", None)
    before = await keeper.gate.seating(KEY)
    assert before.busy, "bob's decision is held"
    store.lose_commit = True
    with pytest.raises(ConnectionResetError):
        await rebuild(store, keeper.gate, "acme", "e")
    store.lose_commit = False
    assert await keeper.gate.seating(KEY) == before, "a rebuild that did not commit loaded the gate"
    # The fence did not move, so bob's decision is appended at its epoch: the gate still holds it.
    metadata = Metadata(command_id="cmd-bob")
    await append_decision(keeper, "acme", "e", decision, command_id="cmd-bob", metadata=metadata)
    after = await keeper.gate.seating(KEY)
    assert after.busy == {} and after.sessions["a"].queue() == ["bob"]
