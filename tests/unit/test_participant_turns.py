"""Commands about one participant take turns in a process (handlers/turns.py): a burst of them
is decided in the order it came, none answered 503 for waiting on the others."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from registry.api.problems import to_problem
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.eventstore import AppendResult, EventCodec, StreamAppend
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.turns import LineTooLong, Turns
from tests.support.small_event import open_event

#: Commands in the burst, and how long each append takes: together far longer than the keeper
#: waits for a busy participant (BURST * APPEND_S = 0.24 s against 0.05 s).
BURST = 24
APPEND_S = 0.01


class SlowStore(MemoryEventStore):
    """Fenced appends (a gate decision's) take APPEND_S, as a database's would under load."""

    async def append(self, appends: Sequence[StreamAppend], **kw: Any) -> AppendResult:
        if kw.get("fence") is not None:
            await asyncio.sleep(APPEND_S)
        return await super().append(appends, **kw)


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


async def test_a_burst_of_one_persons_commands_is_decided_in_the_order_it_came() -> None:
    keeper = GateKeeper(SlowStore(EventCodec(ALL_EVENTS)), MemoryGate(), busy_wait_s=0.05)
    await open_event(keeper, ctx, {"a": (14, 1)})
    await registration.register_participant(
        keeper, ctx("ann"), "e", cmd.RegisterParticipant(id="ann", name="Ann", email="a@x.nl")
    )

    async def command(n: int) -> int:
        if n % 2 == 0:
            await registration.sign_up(keeper, ctx(str(n)), "e", "ann", cmd.SignUp(session_id="a"))
        else:  # only right after the sign-up before it: out of order, she holds no seat
            await registration.cancel_sign_up(keeper, ctx(str(n)), "e", "ann", "a")
        return n

    # Every one answered (no GateUnavailable, no "holds no seat"), although each waited for
    # up to BURST - 1 others, far longer than busy_wait_s.
    assert await asyncio.gather(*(command(n) for n in range(BURST))) == list(range(BURST))
    facts = await keeper.store.read_streams("participant-acme:e:ann")
    commands = [f.metadata.command_id for f in facts if f.type != "ParticipantRegistered"]
    assert commands == [f"cmd-{n}" for n in range(BURST)]
    assert len(keeper.turns) == 0  # no line left behind


async def test_turns_are_taken_in_order_and_the_line_goes_when_the_last_leaves() -> None:
    turns = Turns()
    taken: list[str] = []

    async def take(who: str, n: int) -> None:
        async with turns.of("acme:e", who):
            taken.append(f"{who}{n}")
            await asyncio.sleep(0.001)

    # Ann's ten line up; bob's one is not held up by them.
    await asyncio.gather(*(take("ann", n) for n in range(10)), take("bob", 0))
    assert [t for t in taken if t.startswith("ann")] == [f"ann{n}" for n in range(10)]
    assert taken.index("bob0") < taken.index("ann1")
    assert len(turns) == 0


async def test_a_command_cancelled_in_line_leaves_it_and_the_next_gets_its_turn() -> None:
    turns = Turns()
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with turns.of("acme:e", "ann"):
            first_in.set()
            await release_first.wait()

    async def waiting(taken: list[str], name: str) -> None:
        async with turns.of("acme:e", "ann"):
            taken.append(name)

    taken: list[str] = []
    holder = asyncio.create_task(first())
    await first_in.wait()
    gone = asyncio.create_task(waiting(taken, "cancelled"))
    after = asyncio.create_task(waiting(taken, "after"))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    release_first.set()
    await asyncio.gather(holder, after)
    assert taken == ["after"]
    assert len(turns) == 0


async def test_a_command_whose_line_takes_too_long_gives_up_and_writes_nothing() -> None:
    """The command ahead hangs (its append never ends): the next one waits LINE_WAIT_S (here
    0.05 s), then answers 503 `unavailable`, writing nothing; the line is left as it was."""
    store = HangingStore(EventCodec(ALL_EVENTS))
    keeper = GateKeeper(store, MemoryGate(), line_wait_s=0.05)
    await open_event(keeper, ctx, {"a": (14, 1), "b": (15, 1)})
    await registration.register_participant(
        keeper, ctx("ann"), "e", cmd.RegisterParticipant(id="ann", name="Ann", email="a@x.nl")
    )
    ahead = asyncio.create_task(
        registration.sign_up(keeper, ctx("1"), "e", "ann", cmd.SignUp(session_id="a"))
    )
    await store.hanging.wait()
    with pytest.raises(LineTooLong) as refused:
        await registration.sign_up(keeper, ctx("2"), "e", "ann", cmd.SignUp(session_id="b"))
    problem = to_problem(refused.value)
    assert (problem.type.status, problem.type.slug) == (503, "unavailable")
    assert problem.headers["Retry-After"] == "1"
    assert len(keeper.turns) == 1  # the one ahead still holds its turn
    store.release.set()
    await ahead
    facts = await keeper.store.read_streams("participant-acme:e:ann")
    assert [f.metadata.command_id for f in facts] == ["cmd-ann", "cmd-1"]  # nothing of cmd-2
    assert len(keeper.turns) == 0


class HangingStore(MemoryEventStore):
    """The first fenced append waits until `release` is set (`hanging` says it is waiting)."""

    def __init__(self, codec: EventCodec) -> None:
        super().__init__(codec)
        self.hanging = asyncio.Event()
        self.release = asyncio.Event()

    async def append(self, appends: Sequence[StreamAppend], **kw: Any) -> AppendResult:
        if kw.get("fence") is not None and not self.hanging.is_set():
            self.hanging.set()
            await self.release.wait()
        return await super().append(appends, **kw)
