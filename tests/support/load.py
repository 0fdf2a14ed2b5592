"""A client of the in-process handlers for load tests: sign-ups and cancellations of the small
programme's people, chosen at random, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid

from registry.domain import commands as cmd
from registry.domain.errors import DomainError
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper, GateUnavailable
from registry.handlers.turns import LineTooLong
from tests.support.programme import ORG, PEOPLE, SESSIONS

#: None writes anything. GateUnavailable is the API's 503 "try again shortly": with four
#: clients over six people, a command could find its participant busy with other clients'
#: commands each time it looked for the whole second `decide` waits (seen once in CI, on a slow
#: run; never in 36 runs here, and the slowest command of eight timed runs took 0.14 - 0.48 s).
#: In one process those commands now take turns (handlers/turns.py), whose wait in line ends
#: in LineTooLong, the same 503.
REFUSALS = (DomainError, GateUnavailable, LineTooLong)


async def sign_ups_and_cancellations(
    keeper: GateKeeper, event_id: str, stop: asyncio.Event, rng: random.Random, done: list[int]
) -> None:
    """Commands until `stop` is set (60 % sign-ups), counting in `done[0]` those carried out
    as they are (a test watches the count while the load runs)."""
    while not stop.is_set():
        who, sid = rng.choice(PEOPLE), rng.choice(sorted(SESSIONS))
        ctx = CommandContext(organisation=ORG, actor="load", command_id=str(uuid.uuid4()))
        with contextlib.suppress(*REFUSALS):
            if rng.random() < 0.6:
                await registration.sign_up(keeper, ctx, event_id, who, cmd.SignUp(session_id=sid))
            else:
                await registration.cancel_sign_up(keeper, ctx, event_id, who, sid)
            done[0] += 1
