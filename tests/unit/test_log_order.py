"""The log the write path leaves, read in position order as `registry verify` reads it, keeps
every rule: seeded random sign-ups (switches among them), cancellations and whole registrations
cancelled, through the handlers with the in-memory store and gate.

The gate's own tests fold its decisions change by change; this one checks what reaches the log,
where the order of a decision's facts is the store's positions (seat_appends.participant_appends:
grouped by participant, a cascade showed a promotion before the seat it took was given up).
"""

from __future__ import annotations

import contextlib
import random

import pytest

from registry.audit.verify_walk import Walk
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.errors import DomainError
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.memory import MemoryEventStore
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from registry.handlers.loading import UnknownParticipant
from tests.support.small_event import open_event

SEEDS = range(20)
COMMANDS = 250
PEOPLE = [f"p{n}" for n in range(10)]
# id: (start hour, capacity): one slot of three small sessions, so that switches queue and
# cancellations cascade through them; a later one beside it.
SESSIONS = {"a": (10, 1), "b": (10, 1), "c": (10, 2), "d": (11, 1)}


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def ctx(self) -> CommandContext:
        self.n += 1
        return CommandContext(organisation="acme", actor="test", command_id=f"cmd-{self.n}")


async def set_up(keeper: GateKeeper, ids: Ids) -> None:
    await open_event(keeper, lambda _: ids.ctx(), SESSIONS)
    for who in PEOPLE:
        command = cmd.RegisterParticipant(id=who, name=who, email=f"{who}@x.nl")
        await registration.register_participant(keeper, ids.ctx(), "e", command)


async def random_command(keeper: GateKeeper, ids: Ids, rng: random.Random) -> None:
    who, sid = rng.choice(PEOPLE), rng.choice(sorted(SESSIONS))
    roll = rng.random()
    if roll < 0.45:
        signup = cmd.SignUp(session_id=sid)
    elif roll < 0.75:
        signup = cmd.SignUp(session_id=sid, replaces=rng.choice(sorted(SESSIONS)))
    elif roll < 0.97:
        await registration.cancel_sign_up(keeper, ids.ctx(), "e", who, sid)
        return
    else:
        await registration.cancel_registration(keeper, ids.ctx(), "e", who)
        return
    await registration.sign_up(keeper, ids.ctx(), "e", who, signup)


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_log_in_position_order_keeps_every_rule(seed: int) -> None:
    keeper = GateKeeper(MemoryEventStore(EventCodec(ALL_EVENTS)), MemoryGate())
    ids, rng = Ids(), random.Random(seed)
    await set_up(keeper, ids)
    promotions = 0
    for _ in range(COMMANDS):
        with contextlib.suppress(DomainError, UnknownParticipant):  # refused: nothing written
            await random_command(keeper, ids, rng)
    walk = Walk()
    for fact in await keeper.store.read_all(1, 100_000):
        walk.step(fact)
        promotions += fact.type == "PromotedFromWaitlist"
    assert walk.findings == []
    assert promotions > 0, "the sequence promoted nobody: it tests nothing"
