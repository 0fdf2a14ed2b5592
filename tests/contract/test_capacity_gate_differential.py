"""RedisGate against the spec, command by command, on seeded random sequences.

1. Every command goes to a plain `Seating` (registry.domain.seating) and to the RedisGate: the
   same changes or the same refusal, the same waitlist position, the same state afterwards.
2. With holds settled at random (confirm or release), MemoryGate and RedisGate agree on every
   answer and outcome, and every release reported "undone" is exact: folding the decisions that
   remain (the log that will exist) gives the gate's state, and that state keeps every rule.
   A confirmation that says a fill is due is followed by `promote`, as the write path does
   (seat_appends.py), except now and then, as when the caller dies first: then the reconciler's
   `promote(only_if_due=True)`, run at random times, must make exactly the fill a full promote
   would (the spec's `fill_free_seats` on the gate's state), never miss one.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import NamedTuple

import pytest
import redis.asyncio as aioredis

from registry.capacity import CapacityGate, GateNotReady, MemoryGate, ParticipantBusy, RedisGate
from registry.domain.errors import DomainError
from registry.domain.seating import (
    Change,
    Promoted,
    Queued,
    Seated,
    Seating,
    SessionSeats,
    freed_seats,
    left_queues,
)
from tests.contract.conftest import PART_ENTRIES

SEEDS = range(40)
COMMANDS = 80


def at(hour: float) -> datetime:
    return datetime(2024, 1, 11, int(hour), int(hour % 1 * 60), tzinfo=UTC)


# id: (start, end, capacity, waitlist): partial overlaps, adjacent ranges, unlimited, no waitlist.
PROGRAMME: dict[str, tuple[float, float, int | None, bool]] = {
    "a": (10, 11, 2, True),
    "b": (10, 11, 1, True),
    "c": (10.5, 11.5, 2, True),
    "d": (11, 12, 1, True),
    "e": (10, 12, 1, False),
    "f": (11.25, 12.25, 1, True),
    "u": (9, 10, None, True),
}
PARTICIPANTS = [f"p{i}" for i in range(8)]


def new_seating() -> Seating:
    return Seating(
        {
            sid: SessionSeats(sid, at(start), at(end), cap, waitlist)
            for sid, (start, end, cap, waitlist) in PROGRAMME.items()
        }
    )


def random_command(rng: random.Random) -> tuple[str, str, str, str | None]:
    kind = rng.choice(["sign_up"] * 6 + ["leave"] * 3 + ["leave_all"])
    replaces = rng.choice([None, None, None, None, *sorted(PROGRAMME)])
    return kind, rng.choice(PARTICIPANTS), rng.choice(sorted(PROGRAMME)), replaces


Outcome = tuple[str, list[Change] | str]


def reference(seating: Seating, command: tuple[str, str, str, str | None]) -> Outcome:
    kind, p, s, r = command
    try:
        if kind == "sign_up":
            return "ok", seating.sign_up(p, s, r)
        if kind == "leave":
            return "ok", seating.leave(p, s)
        return "ok", seating.leave_all(p)
    except DomainError as refused:
        return "refused", type(refused).__name__


async def decide(
    gate: CapacityGate, key: str, command_id: str, command: tuple[str, str, str, str | None]
) -> Outcome:
    kind, p, s, r = command
    try:
        if kind == "sign_up":
            return "ok", list(await gate.sign_up(key, command_id, p, s, r))
        if kind == "leave":
            return "ok", list(await gate.leave(key, command_id, p, s))
        return "ok", list(await gate.leave_all(key, command_id, p))
    except (DomainError, ParticipantBusy) as refused:
        return "refused", type(refused).__name__


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    prefix = f"{request.getfixturevalue('redis_prefix')}-{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue("redis_url"), prefix


@pytest.fixture
async def redis_gate(redis_backend: tuple[str, str]) -> AsyncIterator[RedisGate]:
    url, prefix = redis_backend
    client = aioredis.Redis.from_url(url)
    try:
        yield RedisGate(client, prefix, load_part_entries=PART_ENTRIES)
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_redis_gate_decides_as_the_spec(redis_gate: RedisGate, seed: int) -> None:
    rng = random.Random(seed)
    key = f"org:seed-{seed}"
    spec = new_seating()
    await redis_gate.load(key, new_seating(), "open")
    for n in range(COMMANDS):
        command = random_command(rng)
        expected = reference(spec, command)
        assert await decide(redis_gate, key, f"c{n}", command) == expected, (n, command)
        await redis_gate.confirm(key, f"c{n}")  # the spec has no holds: each one commits
        changes = expected[1] if isinstance(expected[1], list) else []
        if changes and isinstance(queued := changes[0], Queued):
            position = await redis_gate.waitlist_position(key, queued.session_id, command[1])
            assert position == spec.sessions[queued.session_id].waitlist_position(command[1])
        assert await redis_gate.seating(key) == spec, (n, command)


class Decided(NamedTuple):
    changes: list[Change]
    held: frozenset[str]  # sessions with seats held back for other decisions when it was made


def fold(decided: dict[str, Decided], base: Seating | None = None, *, fair: bool = True) -> Seating:
    """The rebuild: the decisions' facts in order, each checked to be one the rules could have
    decided at that point: a seat only when free, a promotion only into a free seat (capacity);
    and when `fair`, a seat only with nobody queued, a queue entry only when full or when a seat
    there was held back, a promotion only of the queue's head. Facts about people the log does
    not have there (a release of a seat never given, a promotion of nobody waiting) fail.
    `base`: the state the decisions start from (the last rebuild)."""
    seating = copy.deepcopy(base) if base is not None else new_seating()
    for changes, held in decided.values():
        for change in changes:
            s = seating.sessions[change.session_id]
            match change:
                case Seated():
                    assert s.has_free_seat, change
                    assert not (fair and s.waiting), change
                case Queued():
                    assert not fair or s.waiting or not s.has_free_seat or s.session_id in held
                case Promoted(participant_id=p):
                    assert s.has_free_seat and p in s.waiting, change
                    # First come, first served even where an append failed: a decision that
                    # took someone out of this queue holds it until settled (held_queue).
                    assert s.queue()[0] == p, change
            seating.apply(change)
    return seating


def keeps_every_rule(seating: Seating, held: set[str]) -> None:
    """`held`: sessions where a queue beside a free seat waits for a confirmation."""
    for s in seating.sessions.values():
        assert s.capacity is None or len(s.seated) <= s.capacity, s.session_id
        free_beside_queue = s.waiting and s.has_free_seat and s.session_id not in held
        assert not free_beside_queue, f"{s.session_id}: a queue beside a free seat"
    for p in PARTICIPANTS:
        held = seating.seats_of(p)
        assert not any(x.overlaps(y) for i, x in enumerate(held) for y in held[i + 1 :]), p


def without_tickets_to_come(seating: Seating) -> Seating:
    """next_ticket aside: an undone ticket that is not the last leaves a gap (harmless)."""
    bare = without_holds(seating)
    for s in bare.sessions.values():
        s.next_ticket = 0
    return bare


def without_holds(seating: Seating) -> Seating:
    """What the log shows: seats held back for unconfirmed decisions are a gate's own."""
    bare = copy.deepcopy(seating)
    for s in bare.sessions.values():
        s.held_back = 0
        s.held_queue = 0
    bare.busy, bare.stalled = {}, set()
    return bare


def held_sessions(decided: dict[str, Decided], pending: list[str]) -> set[str]:
    """Sessions that may have a queue beside a free seat until a pending decision is settled:
    it gave seats back, or took someone out of the queue (Seating.withhold)."""
    return {
        sid
        for c in pending
        for sid in (*freed_seats(decided[c].changes), *left_queues(decided[c].changes))
    }


@pytest.mark.parametrize("seed", SEEDS)
async def test_settled_holds_agree_and_undo_exactly(redis_gate: RedisGate, seed: int) -> None:
    rng = random.Random(1000 + seed)
    key = f"org:holds-{seed}"
    memory = MemoryGate()
    gates: tuple[CapacityGate, CapacityGate] = (memory, redis_gate)
    for gate in gates:
        await gate.load(key, new_seating(), "open")
    decided: dict[str, Decided] = {}  # the log to be: every decision not released
    base = new_seating()  # what the log held at the last rebuild
    pending: list[str] = []
    outcomes: dict[str, int] = {}

    async def fill(command_id: str) -> None:
        """What the write path does after confirming a decision that gave seats back."""
        held = frozenset(held_sessions(decided, pending))
        filled = [list(await g.promote(key, command_id)) for g in gates]
        assert filled[0] == filled[1], command_id
        if filled[0]:
            decided[command_id] = Decided(filled[0], held)
            pending.append(command_id)

    async def reconcile(command_id: str) -> None:
        """The reconciler's promote (upkeep.reconcile): whatever the callers skipped, it fills
        what a full promote would, and it looks only when the gate marked a fill due."""
        would = (await redis_gate.seating(key)).fill_free_seats()
        held = frozenset(held_sessions(decided, pending))
        filled = [list(await g.promote(key, command_id, only_if_due=True)) for g in gates]
        assert filled[0] == filled[1] == would, command_id
        if filled[0]:
            decided[command_id] = Decided(filled[0], held)
            pending.append(command_id)

    def caller_fills() -> bool:
        """Mostly; otherwise the caller died between its confirmation and the fill."""
        return rng.random() < 0.7

    for n in range(COMMANDS):
        command, command_id = random_command(rng), f"c{n}"
        held = frozenset(held_sessions(decided, pending))
        first, second = [await decide(g, key, command_id, command) for g in gates]
        assert first == second, (n, command)
        if first[0] == "ok":
            assert isinstance(first[1], list)
            decided[command_id] = Decided(first[1], held)
            pending.append(command_id)
        while pending and rng.random() < 0.5:
            settled = pending.pop(rng.randrange(len(pending)))
            if rng.random() < 0.6:
                confirmed = [await g.confirm(key, settled) for g in gates]
                assert confirmed[0] == confirmed[1], (n, settled)
                if confirmed[0] == "fill":
                    if caller_fills():
                        await fill(f"{settled}-fill")
                else:
                    assert confirmed[0] == "confirmed"
                continue
            before = await redis_gate.seating(key)
            released = [await g.release(key, settled) for g in gates]
            assert released[0] == released[1], (n, settled)
            outcomes[released[0]] = outcomes.get(released[0], 0) + 1
            if released[0] == "undone":
                del decided[settled]
                log = fold(decided, base)
                now = await redis_gate.seating(key)
                # A queue beside a free seat waits for a confirmation: a seat held back, or a
                # head busy (stalled; the write path fills after an undo, as below).
                keeps_every_rule(log, held_sessions(decided, pending) | now.stalled)
                assert without_tickets_to_come(now) == without_tickets_to_come(log)
                assert all(
                    now.sessions[s].next_ticket >= log.sessions[s].next_ticket for s in PROGRAMME
                )
                assert await memory.seating(key) == now
                if caller_fills():
                    await fill(f"{settled}-undone")
            else:
                assert released[0] == "dirty"
                with pytest.raises(GateNotReady):
                    await redis_gate.seating(key)
                pending.clear()
                if rng.random() < 0.3:
                    # The append went through after all (a lost reply): the log (`decided`)
                    # keeps it, and the rebuild loads the state before the release.
                    assert fold(decided, base) == without_holds(before)
                    rebuilt = without_holds(before)
                else:
                    # It failed: the log never gets it. Nothing decided since may depend on it,
                    # so the log without it still folds and keeps capacity and times; first come
                    # first served may bend (a queue entry made behind its seat: filled below).
                    del decided[settled]
                    rebuilt = fold(decided, base, fair=False)
                    outcomes["dirty, append failed"] = outcomes.get("dirty, append failed", 0) + 1
                    keeps_every_rule(rebuilt, set(rebuilt.sessions))
                base, decided = rebuilt, {}
                for gate in gates:
                    await gate.load(key, rebuilt, "open")
                if caller_fills():
                    await fill(f"c{n}-rebuilt")
        if rng.random() < 0.3:
            await reconcile(f"c{n}-reconciled")
    await reconcile("last-reconciled")
    assert await memory.seating(key) == await redis_gate.seating(key)
    assert outcomes  # each seed settles some holds either way
