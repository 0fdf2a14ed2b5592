"""The write path asks the gate's roster, not the log, whether a participant may be decided
about (capacity/roster.py): a registration admits, a cancellation removes in its decision, a
rebuild folds the roster from the log, and a participant the gate has not met is checked in the
log once and admitted. In-memory store and gate, no servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_key
from registry.eventstore import AppendResult, EventCodec, InvalidAppend, StreamAppend
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper, rebuild
from registry.handlers.loading import UnknownParticipant
from tests.support.small_event import open_event

KEY = event_key("acme", "e")


class WatchedStore(MemoryEventStore):
    """Counts reads of participants' fact types (the log check), and runs `after_check` once
    right after the next one, as another command would in that moment. `refuse_next`: the next
    fenced append waits for it to be set, then is refused (nothing written)."""

    checks = 0
    after_check: Callable[[], Awaitable[object]] | None = None
    refuse_next: asyncio.Event | None = None

    async def append(self, appends: Sequence[StreamAppend], **kw: Any) -> AppendResult:
        if kw.get("fence") is not None and (refuse := self.refuse_next) is not None:
            self.refuse_next = None
            await refuse.wait()
            raise InvalidAppend("refused by the test")
        return await super().append(appends, **kw)

    async def stream_types(self, stream_id: str) -> list[str]:
        types = await super().stream_types(stream_id)
        self.checks += 1
        if (run := self.after_check) is not None:
            self.after_check = None
            await run()
        return types


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


@pytest.fixture
async def keeper() -> GateKeeper:
    keeper = GateKeeper(WatchedStore(EventCodec(ALL_EVENTS)), MemoryGate())
    await open_event(keeper, ctx, {"a": (14, 1), "b": (15, 5)})
    return keeper


def store(keeper: GateKeeper) -> WatchedStore:
    assert isinstance(keeper.store, WatchedStore)
    return keeper.store


async def register(keeper: GateKeeper, name: str) -> None:
    command = cmd.RegisterParticipant(id=name, name=name, email=f"{name}@x.nl")
    await registration.register_participant(keeper, ctx(f"p-{name}"), "e", command)


async def sign_up(keeper: GateKeeper, n: str, who: str, session: str = "a") -> object:
    answer, _ = await registration.sign_up(keeper, ctx(n), "e", who, cmd.SignUp(session_id=session))
    return answer.body["status"]


async def test_a_registered_participant_signs_up_without_a_log_check(keeper: GateKeeper) -> None:
    await register(keeper, "ann")
    assert await sign_up(keeper, "1", "ann") == "seated"
    await registration.cancel_sign_up(keeper, ctx("2"), "e", "ann", "a")
    assert store(keeper).checks == 0


async def test_a_whole_form_admits_its_participant(keeper: GateKeeper) -> None:
    form = cmd.SubmitRegistration(
        participant=cmd.RegisterParticipant(id="ann", name="Ann", email="ann@x.nl"),
        session_ids=["a"],
    )
    await registration.submit_registration(keeper, ctx("f"), "e", form)
    assert await sign_up(keeper, "1", "ann", "b") == "seated"
    assert store(keeper).checks == 0


async def test_nobody_unregistered_or_cancelled_signs_up(keeper: GateKeeper) -> None:
    with pytest.raises(UnknownParticipant):
        await sign_up(keeper, "1", "eve")
    await register(keeper, "ann")
    await registration.cancel_registration(keeper, ctx("2"), "e", "ann")
    checks = store(keeper).checks
    with pytest.raises(UnknownParticipant):
        await sign_up(keeper, "3", "ann")
    assert store(keeper).checks == checks, "the gate knew of the cancellation"
    seating = await keeper.gate.seating(KEY)
    assert seating.sessions["a"].seated == {}


async def test_a_rebuilt_gate_knows_the_roster_from_the_log(keeper: GateKeeper) -> None:
    for name in ("ann", "bob"):
        await register(keeper, name)
    await registration.cancel_registration(keeper, ctx("c"), "e", "bob")
    assert isinstance(keeper.gate, MemoryGate)
    keeper.gate.forget(KEY)  # Redis lost its data
    await rebuild(keeper.store, keeper.gate, "acme", "e")
    assert await sign_up(keeper, "1", "ann") == "seated"
    with pytest.raises(UnknownParticipant):
        await sign_up(keeper, "2", "bob")
    assert store(keeper).checks == 0


async def test_someone_the_gate_has_not_met_is_checked_once_and_admitted(
    keeper: GateKeeper,
) -> None:
    """Their registration's admit was lost (the process died after the append): the first
    decision checks the log, the next ones do not."""
    await register(keeper, "ann")
    await keeper.gate.load(KEY, await keeper.gate.seating(KEY), "open", 0)  # a roster of nobody
    assert await sign_up(keeper, "1", "ann") == "seated"
    assert await sign_up(keeper, "2", "ann", "b") == "seated"
    assert store(keeper).checks == 1


async def test_a_cancellation_between_the_log_check_and_the_decision_wins(
    keeper: GateKeeper,
) -> None:
    """The sign-up reads the log (ann registered); before it reaches the gate, ann cancels. The
    check-then-decide before the roster seated her anyway: a cancelled participant in a seat.
    The cancellation comes through another process (a keeper of its own on the same store and
    gate): in one process her commands take turns (handlers/turns.py)."""
    await register(keeper, "ann")
    await keeper.gate.load(KEY, await keeper.gate.seating(KEY), "open", 0)  # a roster of nobody
    elsewhere = GateKeeper(keeper.store, keeper.gate)
    store(keeper).after_check = lambda: registration.cancel_registration(
        elsewhere, ctx("c"), "e", "ann"
    )
    with pytest.raises(UnknownParticipant):
        await sign_up(keeper, "1", "ann")
    assert (await keeper.gate.seating(KEY)).sessions["a"].seated == {}
    facts = [r.event.type_name for r in await keeper.store.read_stream("participant-acme:e:ann")]
    assert facts == ["ParticipantRegistered", "RegistrationCancelled"]


async def test_a_sign_up_waits_for_a_cancellation_in_flight_that_then_fails(
    keeper: GateKeeper,
) -> None:
    """ann cancels; before that append is refused, she signs up through another process (in
    one, the sign-up would wait for its turn instead: handlers/turns.py). The gate has her
    cancelled but busy: the sign-up waits, the refusal undoes the cancellation, and she is
    seated."""
    await register(keeper, "ann")
    elsewhere = GateKeeper(keeper.store, keeper.gate)
    refuse = asyncio.Event()
    store(keeper).refuse_next = refuse
    cancelling = asyncio.ensure_future(
        registration.cancel_registration(keeper, ctx("c"), "e", "ann")
    )
    await asyncio.sleep(0.01)  # the cancellation is decided and waits in its append
    signing_up = asyncio.ensure_future(sign_up(elsewhere, "1", "ann"))
    await asyncio.sleep(0.01)  # the sign-up met a busy participant and waits
    assert not signing_up.done()
    refuse.set()
    with pytest.raises(InvalidAppend):
        await cancelling
    assert await signing_up == "seated"
    facts = [r.event.type_name for r in await keeper.store.read_stream("participant-acme:e:ann")]
    assert facts == ["ParticipantRegistered", "SeatAssigned"]
