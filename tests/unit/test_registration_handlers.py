"""The write path with fakes (cosmicpython's service-layer tests): the in-memory store and gate,
no servers. Failures between the gate's decision and the append must leak no seat."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from registry.audit.verify_walk import Walk
from registry.capacity.gate import DEFAULT_HOLD_TTL_MS, wall_clock_ms
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.domain.seating import Seating
from registry.domain.streams import event_key
from registry.eventstore import (
    AppendResult,
    EventCodec,
    GateFence,
    InvalidAppend,
    StaleGateDecision,
    StreamAppend,
)
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import registration, upkeep
from registry.handlers.context import Answer, CommandContext
from registry.handlers.gate_sync import GateKeeper, GateUnavailable, rebuild
from tests.support.small_event import open_event, schedule


class FlakyStore(MemoryEventStore):
    """Fails the next `fail` fenced appends with `error`: by default a lost connection after the
    gate decided (did it commit? nobody knows), or a refusal the database is sure of."""

    fail = 0
    error: Exception = ConnectionError("the database went away")

    async def append(self, appends: Sequence[StreamAppend], **kw: Any) -> AppendResult:
        if kw.get("fence") is not None and self.fail:
            self.fail -= 1
            raise self.error
        return await super().append(appends, **kw)


def ctx(n: str) -> CommandContext:
    return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{n}")


@pytest.fixture
async def keeper() -> GateKeeper:
    keeper = GateKeeper(FlakyStore(EventCodec(ALL_EVENTS)), MemoryGate())
    await open_event(keeper, ctx, {"a": (14, 1)})
    return keeper


async def participant(keeper: GateKeeper, name: str) -> str:
    answer, _ = await registration.register_participant(
        keeper,
        ctx(f"p-{name}"),
        "e",
        cmd.RegisterParticipant(id=name, name=name, email=f"{name}@x.nl"),
    )
    return str(answer.body["participant_id"])


async def test_a_failed_append_releases_the_hold_and_leaks_no_seat(keeper: GateKeeper) -> None:
    ann, bob = await participant(keeper, "ann"), await participant(keeper, "bob")
    assert isinstance(keeper.store, FlakyStore)
    keeper.store.fail = 1
    with pytest.raises(ConnectionError):
        await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    seating = await keeper.gate.seating(event_key("acme", "e"))
    assert seating.sessions["a"].seated == {}, "the seat of a failed append leaked"
    answer, _ = await registration.sign_up(keeper, ctx("2"), "e", bob, cmd.SignUp(session_id="a"))
    assert answer.body["status"] == "seated"


async def test_a_refused_cascade_marks_the_gate_dirty_and_the_next_decision_rebuilds_it(
    keeper: GateKeeper,
) -> None:
    ann, bob = await participant(keeper, "ann"), await participant(keeper, "bob")
    await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    await registration.sign_up(keeper, ctx("2"), "e", bob, cmd.SignUp(session_id="a"))  # waits
    assert isinstance(keeper.store, FlakyStore)
    keeper.store.fail, keeper.store.error = 1, InvalidAppend("refused by the database")
    with pytest.raises(InvalidAppend):  # ann leaves: bob's promotion cannot be undone exactly
        await registration.cancel_sign_up(keeper, ctx("3"), "e", ann, "a")
    key = event_key("acme", "e")
    assert not await keeper.gate.is_ready(key)
    # The next decision rebuilds the gate from the log first: ann still holds her seat there.
    answer, _ = await registration.cancel_sign_up(keeper, ctx("4"), "e", ann, "a")
    assert answer.body["promoted"] == [bob]
    seating = await keeper.gate.seating(key)
    assert list(seating.sessions["a"].seated) == [bob]


async def test_an_append_that_may_have_committed_rebuilds_the_gate_from_the_log(
    keeper: GateKeeper,
) -> None:
    ann, bob = await participant(keeper, "ann"), await participant(keeper, "bob")
    await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    await registration.sign_up(keeper, ctx("2"), "e", bob, cmd.SignUp(session_id="a"))  # waits
    assert isinstance(keeper.store, FlakyStore)
    keeper.store.fail = 1
    with pytest.raises(ConnectionError):
        await registration.cancel_sign_up(keeper, ctx("3"), "e", ann, "a")
    key = event_key("acme", "e")
    assert await keeper.gate.is_ready(key)  # rebuilt at once, from what the log holds
    seating = await keeper.gate.seating(key)
    assert list(seating.sessions["a"].seated) == [ann]
    assert seating.sessions["a"].queue() == [bob]


async def test_an_append_that_committed_but_reported_an_error_keeps_its_seat(
    keeper: GateKeeper,
) -> None:
    """pg_terminate_backend after the commit: the client sees AdminShutdownError although the
    seat is in the log. Undoing the hold would give that seat away a second time."""
    ann, bob = await participant(keeper, "ann"), await participant(keeper, "bob")
    store = keeper.store
    assert isinstance(store, FlakyStore)
    original = FlakyStore.append

    async def commit_then_fail(
        self: FlakyStore, appends: Sequence[StreamAppend], **kw: Any
    ) -> AppendResult:
        await MemoryEventStore.append(self, appends, **kw)
        raise asyncpg.exceptions.AdminShutdownError("terminating connection")

    FlakyStore.append = commit_then_fail  # type: ignore[method-assign]
    try:
        with pytest.raises(asyncpg.exceptions.AdminShutdownError):
            await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    finally:
        FlakyStore.append = original  # type: ignore[method-assign]
    answer, _ = await registration.sign_up(keeper, ctx("2"), "e", bob, cmd.SignUp(session_id="a"))
    assert answer.body["status"] == "waitlisted"  # ann's committed seat is still hers
    seated = {
        e.event.participant_id
        for e in await store.read_streams("participant-acme:e:")
        if type(e.event).__name__ == "SeatAssigned"
    }
    assert seated == {ann}


async def test_a_decision_of_a_gate_rebuilt_meanwhile_is_decided_again(keeper: GateKeeper) -> None:
    ann = await participant(keeper, "ann")
    key = event_key("acme", "e")
    gate = keeper.gate
    real_sign_up = gate.sign_up
    rebuilt = False

    async def sign_up_then_rebuild(*args: Any, **kw: Any) -> Any:
        nonlocal rebuilt
        decision = await real_sign_up(*args, **kw)
        if not rebuilt:  # the gate is rebuilt between this decision and its append
            rebuilt = True
            await keeper.rebuild("acme", "e")
        return decision

    gate.sign_up = sign_up_then_rebuild  # type: ignore[method-assign]
    answer, result = await registration.sign_up(
        keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a")
    )
    assert answer.body["status"] == "seated"
    assert len(result.positions) == 1  # one seat in the log, not two
    seating = await gate.seating(key)
    assert list(seating.sessions["a"].seated) == [ann]
    with pytest.raises(StaleGateDecision):
        # Without the retry the stale decision is refused, never appended.
        await keeper.store.append(
            [StreamAppend("participant-acme:e:ann", None, [])],
            fence=GateFence(key, 1),
        )


async def test_a_seat_freed_by_a_failed_append_is_never_given_away(keeper: GateKeeper) -> None:
    """Ann cancels; before her append is refused, dave asks for her seat and commits. The seat
    was held back for ann's unconfirmed decision, so dave queued, and ann keeps her seat."""
    ann, dave = await participant(keeper, "ann"), await participant(keeper, "dave")
    await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    store = keeper.store
    assert isinstance(store, FlakyStore)
    real_append = MemoryEventStore.append
    original = FlakyStore.append
    dave_answer: Answer | None = None

    async def slow_then_refused(
        self: FlakyStore, appends: Sequence[StreamAppend], **kw: Any
    ) -> AppendResult:
        nonlocal dave_answer
        if kw.get("command_id") == "cmd-2" and dave_answer is None:
            dave_answer, _ = await registration.sign_up(
                keeper, ctx("3"), "e", dave, cmd.SignUp(session_id="a")
            )
            raise InvalidAppend("refused by the database")
        return await real_append(self, appends, **kw)

    FlakyStore.append = slow_then_refused  # type: ignore[method-assign]
    try:
        with pytest.raises(InvalidAppend):
            await registration.cancel_sign_up(keeper, ctx("2"), "e", ann, "a")
    finally:
        FlakyStore.append = original  # type: ignore[method-assign]
    assert dave_answer is not None
    assert dave_answer.body["status"] == "waitlisted"
    key = event_key("acme", "e")
    assert await keeper.gate.is_ready(key), "ann's cancellation is undone exactly"
    log = await folded_log(keeper)
    assert list(log.sessions["a"].seated) == [ann]
    assert log.sessions["a"].queue() == [dave]
    assert await keeper.gate.seating(key) == log


async def test_a_seat_given_back_comes_free_on_confirmation_and_the_queue_gets_it(
    keeper: GateKeeper,
) -> None:
    """The other way round: ann's cancellation commits after dave queued for her held-back seat;
    confirming it gives the seat to the queue in a follow-up promotion, in the log too."""
    ann, dave = await participant(keeper, "ann"), await participant(keeper, "dave")
    await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    store = keeper.store
    answer = await cancel_while_dave_queues(keeper, ann, dave)
    assert answer.body["promoted"] == []  # nobody waited when ann left
    log = await folded_log(keeper)
    assert list(log.sessions["a"].seated) == [dave]
    assert not log.sessions["a"].waiting
    assert await keeper.gate.seating(event_key("acme", "e")) == log
    dave_stream = await store.read_streams("participant-acme:e:dave")
    [fill] = [e for e in dave_stream if e.type == "PromotedFromWaitlist"]
    assert fill.metadata.causation_id == "cmd-2"


async def test_a_rebuild_that_finds_a_free_seat_beside_a_queue_fills_it(keeper: GateKeeper) -> None:
    """Ann's seat decision is lost (the process died before its append) after dave queued
    behind it: the rebuild finds a free seat and a queue, and the reconciler promotes dave."""
    ann, dave = await participant(keeper, "ann"), await participant(keeper, "dave")
    key = event_key("acme", "e")
    await keeper.gate.sign_up(key, "lost", ann, "a")  # decided, never appended
    answer, _ = await registration.sign_up(keeper, ctx("1"), "e", dave, cmd.SignUp(session_id="a"))
    assert answer.body["status"] == "waitlisted"
    settled = await upkeep.reconcile(keeper, now_ms=wall_clock_ms() + DEFAULT_HOLD_TTL_MS + 1)
    assert settled == 1
    log = await folded_log(keeper)
    assert list(log.sessions["a"].seated) == [dave]
    assert await keeper.gate.seating(key) == log


async def test_the_reconciler_fills_what_a_caller_that_died_left_free(
    keeper: GateKeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but ann's process dies between confirming her cancellation and filling the
    seat it gave back (fill_quietly never runs): the gate keeps the fill due, and the
    reconciler, which otherwise does not walk the event, promotes dave."""
    ann, dave = await participant(keeper, "ann"), await participant(keeper, "dave")
    await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    await upkeep.reconcile(keeper)  # nothing to fill; what the load marked due is looked at
    store = keeper.store

    async def died(*_: object) -> None:
        return None

    monkeypatch.setattr(registration, "fill_quietly", died)
    await cancel_while_dave_queues(keeper, ann, dave)
    monkeypatch.undo()
    promoted = "PromotedFromWaitlist"
    assert promoted not in [e.type for e in await store.read_streams(f"participant-acme:e:{dave}")]
    await upkeep.reconcile(keeper)
    assert promoted in [e.type for e in await store.read_streams(f"participant-acme:e:{dave}")]
    log = await folded_log(keeper)
    assert list(log.sessions["a"].seated) == [dave]
    assert await keeper.gate.seating(event_key("acme", "e")) == log


async def cancel_while_dave_queues(keeper: GateKeeper, ann: str, dave: str) -> Answer:
    """Ann cancels her seat in a (cmd-2); while her append is on its way, dave signs up and is
    waitlisted behind the seat her decision holds back. Returns ann's answer."""
    real_append = MemoryEventStore.append
    queued_first = False

    async def dave_first(
        self: FlakyStore, appends: Sequence[StreamAppend], **kw: Any
    ) -> AppendResult:
        nonlocal queued_first
        if kw.get("command_id") == "cmd-2" and not queued_first:
            queued_first = True
            answer, _ = await registration.sign_up(
                keeper, ctx("3"), "e", dave, cmd.SignUp(session_id="a")
            )
            assert answer.body["status"] == "waitlisted"
        return await real_append(self, appends, **kw)

    assert isinstance(keeper.store, FlakyStore)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FlakyStore, "append", dave_first)
        answer, _ = await registration.cancel_sign_up(keeper, ctx("2"), "e", ann, "a")
    return answer


async def folded_log(keeper: GateKeeper) -> Seating:
    """The seating the log holds (what a rebuild loads)."""
    await rebuild(keeper.store, keeper.gate, "acme", "e")
    return await keeper.gate.seating(event_key("acme", "e"))


async def test_a_command_waits_while_its_participant_has_a_decision_in_flight(
    keeper: GateKeeper,
) -> None:
    ann = await participant(keeper, "ann")
    key = event_key("acme", "e")
    await keeper.gate.sign_up(key, "in-flight", ann, "a")  # decided, append not yet committed

    async def commit_soon() -> None:
        await asyncio.sleep(0.02)
        await keeper.gate.release(key, "in-flight")  # its append failed after all

    settle = asyncio.create_task(commit_soon())
    answer, _ = await registration.sign_up(keeper, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    await settle
    assert answer.body["status"] == "seated"  # decided once ann was free again


async def test_a_participant_busy_for_too_long_is_a_503_not_a_guess(keeper: GateKeeper) -> None:
    ann = await participant(keeper, "ann")
    await keeper.gate.sign_up(event_key("acme", "e"), "stuck", ann, "a")  # its process died
    impatient = GateKeeper(keeper.store, keeper.gate, busy_wait_s=0.05)
    with pytest.raises(GateUnavailable):
        await registration.sign_up(impatient, ctx("1"), "e", ann, cmd.SignUp(session_id="a"))
    written = await keeper.store.read_streams("participant-acme:e:ann")
    assert [e.type for e in written] == [
        "ParticipantRegistered"
    ]  # nothing decided, nothing written


async def test_a_cascade_is_logged_in_the_order_it_was_decided(keeper: GateKeeper) -> None:
    """Ann leaves c: bob, who waits for c in place of his seat in d, moves up and frees d; cy,
    who waits for d in place of her seat in a, moves up and frees a; ann, who waits for a, gets
    it. Read in position order the log must free each seat before it is given again: facts
    grouped by participant put ann's promotion into a before cy gave a up (over capacity)."""
    for sid, hour in (("c", 15), ("d", 16)):
        await schedule(keeper, ctx(f"s-{sid}"), sid, hour, 1)
    ann, bob, cy = [await participant(keeper, name) for name in ("ann", "bob", "cy")]
    steps = [
        (ann, cmd.SignUp(session_id="c")),
        (bob, cmd.SignUp(session_id="d")),
        (cy, cmd.SignUp(session_id="a")),
        (bob, cmd.SignUp(session_id="c", replaces="d")),  # waits for c, keeps d meanwhile
        (cy, cmd.SignUp(session_id="d", replaces="a")),  # waits for d, keeps a meanwhile
        (ann, cmd.SignUp(session_id="a")),  # waits for a
    ]
    for n, (who, signup) in enumerate(steps):
        await registration.sign_up(keeper, ctx(f"u{n}"), "e", who, signup)
    answer, _ = await registration.cancel_sign_up(keeper, ctx("leave"), "e", ann, "c")
    assert answer.body["promoted"] == [bob, cy, ann]

    walk = Walk()
    for fact in await keeper.store.read_all(1, 1000):
        walk.step(fact)
    assert walk.findings == []
    seating = await keeper.gate.seating(event_key("acme", "e"))
    assert {sid: list(s.seated) for sid, s in seating.sessions.items()} == {
        "a": [ann],
        "c": [bob],
        "d": [cy],
    }
