"""The gate's roster (capacity/roster.py), MemoryGate and RedisGate alike: who may be decided
about `on_roster`, admitted after a log check, moved out by a cancelled registration and back
by its exact release, replaced by a load."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from registry.capacity import (
    CapacityGate,
    GateNotReady,
    MemoryGate,
    NotOnRoster,
    ParticipantBusy,
    RedisGate,
    Roster,
)
from registry.domain.seating import Dequeued, Promoted, Released, Seated
from tests.contract.conftest import PART_ENTRIES
from tests.contract.test_capacity_gate import EVENT, Clock, backend, programme

__all__ = ["backend"]  # the fixture, shared with the gate's main contract suite

ROSTER = Roster(registered=frozenset({"ann", "bob", "cy"}), cancelled=frozenset({"dan"}))


@pytest.fixture
async def gate(backend: tuple[str, str] | None) -> AsyncIterator[CapacityGate]:
    if backend is None:
        memory = MemoryGate(clock=Clock())
        await memory.load(EVENT, programme(), "open", 3, ROSTER)
        yield memory
        return
    url, prefix = backend
    client = aioredis.Redis.from_url(url)
    redis_gate = RedisGate(client, prefix, clock=Clock(), load_part_entries=PART_ENTRIES)
    await redis_gate.load(EVENT, programme(), "open", 3, ROSTER)
    try:
        yield redis_gate
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_the_roster_reads_back_as_loaded_and_changed(gate: CapacityGate) -> None:
    assert await gate.roster(EVENT) == ROSTER
    await gate.admit(EVENT, "eve")
    await gate.leave_all(EVENT, "c1", "ann", on_roster=True)
    assert await gate.roster(EVENT) == Roster(
        registered=frozenset({"bob", "cy", "eve"}), cancelled=frozenset({"ann", "dan"})
    )


async def test_the_loaded_roster_decides_who_may_sign_up(gate: CapacityGate) -> None:
    assert await gate.sign_up(EVENT, "c1", "ann", "a", on_roster=True) == [Seated("ann", "a", 1)]
    with pytest.raises(NotOnRoster) as unknown:
        await gate.sign_up(EVENT, "c2", "eve", "a", on_roster=True)
    assert (unknown.value.participant_id, unknown.value.cancelled) == ("eve", False)
    with pytest.raises(NotOnRoster) as cancelled:
        await gate.leave(EVENT, "c3", "dan", "a", on_roster=True)
    assert cancelled.value.cancelled
    with pytest.raises(NotOnRoster):
        await gate.leave_all(EVENT, "c4", "eve", on_roster=True)
    # Refused: nothing held, nothing seated, and the command ids are still free.
    assert (await gate.seating(EVENT)).sessions["a"].seated == {"ann": 1}
    assert await gate.expired_holds(EVENT, 2**62) == ["c1"]


async def test_without_on_roster_the_roster_is_not_asked(gate: CapacityGate) -> None:
    """A registration's own sign-ups come before its append: nobody is on the roster yet."""
    assert await gate.sign_up(EVENT, "c1", "eve", "a") == [Seated("eve", "a", 1)]
    assert await gate.sign_up(EVENT, "c2", "dan", "b") == [Seated("dan", "b", 1)]


async def test_admitted_participants_are_decided_about(gate: CapacityGate) -> None:
    assert await gate.admit(EVENT, "eve") == "admitted"
    assert await gate.admit(EVENT, "eve") == "admitted"
    assert await gate.sign_up(EVENT, "c1", "eve", "a", on_roster=True) == [Seated("eve", "a", 1)]


async def test_a_cancelled_participant_is_never_admitted(gate: CapacityGate) -> None:
    assert await gate.admit(EVENT, "dan") == "cancelled"
    with pytest.raises(NotOnRoster) as refused:
        await gate.sign_up(EVENT, "c1", "dan", "a", on_roster=True)
    assert refused.value.cancelled


async def test_a_cancelled_registration_leaves_the_roster_in_its_decision(
    gate: CapacityGate,
) -> None:
    """Held, not yet confirmed: a log check that ran before the cancellation committed must not
    put the participant back (admit refuses), and a decision about them waits (busy)."""
    await gate.sign_up(EVENT, "c1", "ann", "a", on_roster=True)
    await gate.confirm(EVENT, "c1")
    assert await gate.leave_all(EVENT, "c2", "ann", on_roster=True) == [
        Released("ann", "a", "registration-cancelled")
    ]
    assert await gate.admit(EVENT, "ann") == "cancelled"
    with pytest.raises(ParticipantBusy):
        await gate.sign_up(EVENT, "c3", "ann", "b", on_roster=True)
    await gate.confirm(EVENT, "c2")
    with pytest.raises(NotOnRoster):
        await gate.sign_up(EVENT, "c4", "ann", "b", on_roster=True)
    # Repeating the cancellation's command id answers its decision again.
    assert (await gate.leave_all(EVENT, "c2", "ann", on_roster=True)).replayed


async def test_a_cancellation_in_flight_keeps_its_participant_busy(gate: CapacityGate) -> None:
    """Even one that changed nothing (no seat, no queue): it may yet be undone, and then the
    participant is registered; a decision about them waits until it is settled."""
    assert await gate.leave_all(EVENT, "c1", "bob", on_roster=True) == []
    with pytest.raises(ParticipantBusy):
        await gate.sign_up(EVENT, "c2", "bob", "a", on_roster=True)
    assert await gate.release(EVENT, "c1") == "undone"
    assert await gate.sign_up(EVENT, "c2", "bob", "a", on_roster=True) == [Seated("bob", "a", 1)]
    await gate.confirm(EVENT, "c2")
    assert await gate.leave_all(EVENT, "c3", "cy", on_roster=True) == []
    assert await gate.confirm(EVENT, "c3") == "confirmed"
    with pytest.raises(NotOnRoster) as refused:
        await gate.sign_up(EVENT, "c4", "cy", "a", on_roster=True)
    assert refused.value.cancelled
    assert (await gate.seating(EVENT)).busy == {}


async def test_an_exact_release_puts_the_participant_back(gate: CapacityGate) -> None:
    await gate.leave_all(EVENT, "c1", "bob", on_roster=True)
    assert await gate.release(EVENT, "c1") == "undone"
    assert await gate.sign_up(EVENT, "c2", "bob", "a", on_roster=True) == [Seated("bob", "a", 1)]
    # Someone the roster did not name before the (unchecked) cancellation is not named after it.
    await gate.leave_all(EVENT, "c3", "eve")
    assert await gate.release(EVENT, "c3") == "undone"
    with pytest.raises(NotOnRoster) as refused:
        await gate.sign_up(EVENT, "c4", "eve", "a", on_roster=True)
    assert not refused.value.cancelled
    # And someone cancelled before stays cancelled.
    await gate.leave_all(EVENT, "c5", "dan")
    assert await gate.release(EVENT, "c5") == "undone"
    assert await gate.admit(EVENT, "dan") == "cancelled"


async def test_an_inexact_release_leaves_the_roster_to_the_rebuild(gate: CapacityGate) -> None:
    """A cancellation that promoted someone cannot be undone: the event turns dirty, admit
    finds it not ready, and the next load's roster (from the log) is what counts."""
    await gate.sign_up(EVENT, "c1", "ann", "b", on_roster=True)
    await gate.confirm(EVENT, "c1")
    await gate.sign_up(EVENT, "c2", "bob", "b", on_roster=True)
    await gate.confirm(EVENT, "c2")
    decision = await gate.leave_all(EVENT, "c3", "ann", on_roster=True)
    assert decision == [
        Released("ann", "b", "registration-cancelled"),
        Promoted("bob", "b", 2),
    ]
    assert await gate.release(EVENT, "c3") == "dirty"
    assert await gate.admit(EVENT, "eve") == "not ready"
    await gate.load(EVENT, programme(), "open", 4, ROSTER)
    assert await gate.sign_up(EVENT, "c4", "ann", "a", on_roster=True) == [Seated("ann", "a", 1)]


async def test_a_load_replaces_the_roster(gate: CapacityGate) -> None:
    await gate.admit(EVENT, "eve")
    await gate.load(EVENT, programme(), "open", 4, Roster(registered=frozenset({"dan"})))
    for gone in ("ann", "eve"):
        with pytest.raises(NotOnRoster) as refused:
            await gate.sign_up(EVENT, f"c-{gone}", gone, "a", on_roster=True)
        assert not refused.value.cancelled
    assert await gate.sign_up(EVENT, "c1", "dan", "a", on_roster=True) == [Seated("dan", "a", 1)]
    await gate.load(EVENT, programme(), "open", 5)  # no roster: nobody on it
    with pytest.raises(NotOnRoster):
        await gate.sign_up(EVENT, "c2", "dan", "b", on_roster=True)


async def test_a_roster_of_many_loads_whole(gate: CapacityGate) -> None:
    """Tens of thousands of names (one SADD per name would overflow Lua's stack at 8,000)."""
    names = frozenset(f"p{n}" for n in range(20_000))
    gone = frozenset(f"x{n}" for n in range(9_000))
    await gate.load(EVENT, programme(), "open", 4, Roster(registered=names, cancelled=gone))
    for n in (0, 7_999, 8_000, 19_999):
        await gate.sign_up(EVENT, f"c{n}", f"p{n}", "u", on_roster=True)
    assert await gate.admit(EVENT, "x8999") == "cancelled"
    assert await gate.admit(EVENT, f"p{uuid.uuid4().hex}") == "admitted"


async def test_admit_on_a_gate_never_loaded_is_not_ready(gate: CapacityGate) -> None:
    assert await gate.admit("org-a:other-day", "ann") == "not ready"
    with pytest.raises(GateNotReady):
        await gate.roster("org-a:other-day")


async def test_a_queue_entry_left_by_a_cancellation_is_checked_too(gate: CapacityGate) -> None:
    await gate.sign_up(EVENT, "c1", "ann", "b", on_roster=True)
    await gate.confirm(EVENT, "c1")
    await gate.sign_up(EVENT, "c2", "bob", "b", on_roster=True)
    await gate.confirm(EVENT, "c2")
    assert await gate.leave_all(EVENT, "c3", "bob", on_roster=True) == [
        Dequeued("bob", "b", "registration-cancelled")
    ]
    await gate.confirm(EVENT, "c3")
    with pytest.raises(NotOnRoster):
        await gate.leave(EVENT, "c4", "bob", "b", on_roster=True)
