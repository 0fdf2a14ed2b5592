"""The write path hammered on real PostgreSQL and Redis while appends fail at random, then the
invariants checked against the log.

Sign-ups, switches and cancellations for a few small, overlapping sessions run 64 at a time. A
few appends are refused before they write (the gate undoes the hold), a few commit and then lose
their reply (the gate is rebuilt inside the store's fence). Afterwards the log must fold (no fact
about a seat or a queue entry the log never got), keep every session within capacity and every
participant in at most one seat per time, and the gate must equal the log's fold.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from registry.capacity import RedisGate
from registry.capacity.gate import DEFAULT_HOLD_TTL_MS, wall_clock_ms
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain.events import ALL_EVENTS
from registry.domain.seating import Seating
from registry.domain.streams import event_key
from registry.eventstore import AppendResult, EventCodec, InvalidAppend, StreamAppend
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import programme, registration, upkeep
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper, rebuild

ORG, EVENT = "acme", "day"
AMS = dt.timezone(dt.timedelta(hours=1))
PEOPLE = 30
COMMANDS = 700
IN_FLIGHT = 64
REFUSED, LOST_REPLY = 0.04, 0.04  # share of fenced appends failing either way

# id: (start hour, end hour, capacity, waitlist)
SESSIONS = {
    "a": (10, 11, 3, True),
    "b": (10, 11, 2, True),
    "c": (10.5, 11.5, 2, True),
    "d": (11, 12, 1, True),
    "e": (10, 12, 2, False),
}


class FaultyStore(PostgresEventStore):
    """Fails some fenced appends (the gate's decisions): refused before writing, or written and
    then the reply lost."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, EventCodec(ALL_EVENTS))
        self.injecting = True
        self.faults: collections.Counter[str] = collections.Counter()
        self.fenced = 0
        self.lose_next = 0  # replies still to lose, each on the next append that commits

    async def append(self, appends: Sequence[StreamAppend], **kw: Any) -> AppendResult:
        # Faults are spread evenly over the fenced appends, not drawn: every run injects both
        # kinds (drawn, a CI run lost 4 replies where the test needs more than 5). A lost reply
        # waits for an append that commits: one in flight during a rebuild goes stale instead.
        if kw.get("fence") is None or not self.injecting:
            return await super().append(appends, **kw)
        self.fenced += 1
        every = round(1 / (REFUSED + LOST_REPLY))  # one fault in `every` fenced appends
        if self.fenced % every == 0:
            if (self.fenced // every) % 2:
                self.faults["refused"] += 1
                raise InvalidAppend("injected: refused before writing")
            self.lose_next += 1
        result = await super().append(appends, **kw)
        if self.lose_next:
            self.lose_next -= 1
            self.faults["lost reply"] += 1
            raise ConnectionResetError("injected: the reply was lost after the commit")
        return result


def at(hour: float) -> dt.datetime:
    return dt.datetime(2024, 1, 11, int(hour), int(hour % 1 * 60), tzinfo=AMS)


def ctx(command_id: str) -> CommandContext:
    return CommandContext(organisation=ORG, actor="hammer", command_id=command_id)


@pytest.fixture
async def keeper(
    fresh_pool: asyncpg.Pool, redis_url: str, redis_prefix: str
) -> AsyncIterator[GateKeeper]:
    client = aioredis.Redis.from_url(redis_url, max_connections=200)
    prefix = f"{redis_prefix}-{uuid.uuid4().hex[:8]}"
    store = FaultyStore(fresh_pool)
    keeper = GateKeeper(store, RedisGate(client, prefix))
    try:
        yield keeper
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def set_up(keeper: GateKeeper) -> list[str]:
    create = cmd.CreateEvent(id=EVENT, title="Day", timezone="Europe/Amsterdam", date=at(0).date())
    await programme.create_event(keeper, ctx("create"), create)
    for sid, (start, end, capacity, waitlist) in SESSIONS.items():
        session = cmd.ScheduleSession(
            id=sid,
            title=sid,
            starts_at=at(start),
            ends_at=at(end),
            capacity=capacity,
            waitlist=waitlist,
        )
        await programme.change_programme(
            keeper,
            ctx(f"schedule-{sid}"),
            EVENT,
            lambda p, s=session: rules.decide_schedule(p, s),
            201,
        )
    await programme.change_programme(
        keeper, ctx("open"), EVENT, lambda p: rules.decide_registration(p, True), 200
    )
    people = []
    for n in range(PEOPLE):
        register = cmd.RegisterParticipant(id=f"p{n}", name=f"P {n}", email=f"p{n}@example.org")
        answer, _ = await registration.register_participant(
            keeper, ctx(f"reg-{n}"), EVENT, register
        )
        people.append(str(answer.body["participant_id"]))
    return people


async def hammer(keeper: GateKeeper, people: list[str]) -> collections.Counter[str]:
    rng = random.Random(11)
    outcomes: collections.Counter[str] = collections.Counter()
    slots = asyncio.Semaphore(IN_FLIGHT)
    sessions = sorted(SESSIONS)

    async def one(n: int) -> None:
        p, s = rng.choice(people), rng.choice(sessions)
        roll = rng.random()
        async with slots:
            try:
                if roll < 0.6:
                    replaces = rng.choice(sessions) if roll < 0.15 else None
                    command = cmd.SignUp(session_id=s, replaces=replaces)
                    await registration.sign_up(keeper, ctx(f"c{n}"), EVENT, p, command)
                elif roll < 0.97:
                    await registration.cancel_sign_up(keeper, ctx(f"c{n}"), EVENT, p, s)
                else:  # a cancelled registration: the roster (capacity/roster.py) too
                    await registration.cancel_registration(keeper, ctx(f"c{n}"), EVENT, p)
                outcomes["ok"] += 1
            except Exception as error:  # refusals, injected faults, stale decisions, 503s
                outcomes[type(error).__name__] += 1

    await asyncio.gather(*(one(n) for n in range(COMMANDS)))
    return outcomes


def check_rules(seating: Seating) -> None:
    for s in seating.sessions.values():
        assert s.capacity is None or len(s.seated) <= s.capacity, f"{s.session_id} over capacity"
        assert not (s.waiting and s.has_free_seat), f"{s.session_id}: a queue beside a free seat"
        tickets = list(s.seated.values()) + [w.ticket for w in s.waiting.values()]
        assert len(tickets) == len(set(tickets)), f"{s.session_id}: a ticket twice"
    holders: dict[str, list[str]] = collections.defaultdict(list)
    for s in seating.sessions.values():
        for p in s.seated:
            holders[p].append(s.session_id)
    for p in holders:
        held = seating.seats_of(p)
        overlapping = [
            (x.session_id, y.session_id)
            for i, x in enumerate(held)
            for y in held[i + 1 :]
            if x.overlaps(y)
        ]
        assert not overlapping, f"{p} holds overlapping seats {overlapping}"


@pytest.mark.slow
async def test_random_faults_under_load_leave_a_log_that_keeps_every_rule(
    keeper: GateKeeper,
) -> None:
    people = await set_up(keeper)
    outcomes = await hammer(keeper, people)
    store = keeper.store
    assert isinstance(store, FaultyStore)
    # The load must have done real work; how much of it succeeds depends on the interleaving:
    # each lost reply rebuilds the gate and the decisions in flight then go stale (runs saw 66
    # to 138 of 700 succeed, with 61 to 142 stale), so the floor is loose.
    assert outcomes["ok"] > COMMANDS // 25, outcomes
    assert store.faults["refused"] > 5 and store.faults["lost reply"] > 5, store.faults

    store.injecting = False  # no more faults
    # Whatever a fault left behind (a hold whose command failed, a seat come free beside a
    # queue) is settled by the reconciler, as in production once the holds expire.
    await upkeep.reconcile(keeper, now_ms=wall_clock_ms() + DEFAULT_HOLD_TTL_MS + 1)
    key = event_key(ORG, EVENT)
    live = await keeper.gate.seating(key)
    live_roster = await keeper.gate.roster(key)
    assert live.busy == {} and live.stalled == set(), "holds left unsettled"
    await rebuild(store, keeper.gate, ORG, EVENT)  # folds the log: raises on a fact it cannot
    folded = await keeper.gate.seating(key)
    assert folded == live, "the gate differs from the log"
    # The live roster may lack someone (a rebuild while admitting), never name someone wrongly.
    log_roster = await keeper.gate.roster(key)
    assert live_roster.cancelled == log_roster.cancelled, "the roster differs from the log"
    assert live_roster.registered <= log_roster.registered, "the roster differs from the log"
    assert log_roster.registered | log_roster.cancelled == set(people)
    check_rules(folded)
