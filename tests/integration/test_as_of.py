"""As of (issue 7): after a scripted day (sign-ups, a capacity lowered and raised, a merge,
cancellations, tests/support/scripted_day.py), the replay read from the database as of every
position equals the domain fold of the log's prefix up to that position, and as of the end of
every step it equals what the live read models (SQL projections) answered right then. Times
resolve to the last position recorded at or before them. Snapshots (every 3 facts here) change
nothing in the answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from projections.reads import MAX_LIMIT, UnknownEvent
from registry.audit.replay import Replay, position_at
from registry.audit.replay_answers import everything
from registry.capacity.memory import MemoryGate
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec, RecordedEvent
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.gate_sync import GateKeeper
from tests.support.programme import ORG, set_up
from tests.support.read_models import answered, catch_up, expected, fold, kept_details, whole_log
from tests.support.scripted_day import DAY


@pytest.fixture
async def day(fresh_pool: asyncpg.Pool) -> tuple[PostgresEventStore, str, list[tuple[int, Any]]]:
    """The day played; returns the store, the event and (position, live answers) after each
    step."""
    store = PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))
    keeper = GateKeeper(store, MemoryGate())
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    await set_up(keeper, event_id)
    seen = []
    for step in DAY:
        await step(keeper, event_id)
        await catch_up(fresh_pool, store)
        live = await answered(fresh_pool, ORG, event_id)
        seen.append((await store.head(), live))
    return store, event_id, seen


def replay(pool: asyncpg.Pool, every: int) -> Replay:
    return Replay(pool, EventCodec(ALL_EVENTS), every)


async def test_as_of_every_position_equals_a_fold_of_the_log_up_to_it(
    fresh_pool: asyncpg.Pool, day: tuple[PostgresEventStore, str, list[tuple[int, Any]]]
) -> None:
    store, event_id, seen = day
    log = await whole_log(store)
    details = await kept_details(fresh_pool, ORG, event_id)
    plain = replay(fresh_pool, every=0)
    created = next(e.position for e in log if e.type == "EventCreated")
    for position in range(1, log[-1].position + 1):
        if position < created:
            with pytest.raises(UnknownEvent):
                everything(await plain.state(ORG, event_id, position), details, MAX_LIMIT)
            continue
        state = await plain.state(ORG, event_id, position)
        prefix = [e for e in log if e.position <= position]
        assert everything(state, details, MAX_LIMIT) == expected(
            fold(prefix, ORG, event_id, details)
        ), position
    # As of the end of each step, it is what the live read models answered then.
    for position, live in seen:
        state = await plain.state(ORG, event_id, position)
        assert everything(state, details, MAX_LIMIT) == live, position
    # The day did what the script says (so that the comparisons above compare something).
    final = seen[-1][1]
    a = next(s for s in final["occupancy"] if s["session_id"] == "a")
    assert (a["capacity"], a["seated"], a["waitlisted"]) == (2, 2, 1)
    assert [w["participant_id"] for w in final["waitlists"]["a"]] == ["p4"]
    lowered = seen[6][1]
    a = next(s for s in lowered["occupancy"] if s["session_id"] == "a")
    assert (a["capacity"], a["seated"], a["over_capacity"]) == (1, 2, 1)


async def test_a_time_stands_for_the_last_position_recorded_at_or_before_it(
    fresh_pool: asyncpg.Pool, day: tuple[PostgresEventStore, str, list[tuple[int, Any]]]
) -> None:
    store, event_id, seen = day
    log = await whole_log(store)
    head = await store.head()
    at: dict[int, RecordedEvent] = {e.position: e for e in log}
    for position, live in seen:
        moment = at[position].recorded_at
        assert await position_at(fresh_pool, moment, head) == position
        # A moment later (before the next append) is the same position; a moment before the
        # append (its facts share one clock reading) is the last one of the append before.
        assert await position_at(fresh_pool, moment + dt.timedelta(microseconds=1), head) in (
            position,
            position + 1,
        )
        first = min(e.position for e in log if e.recorded_at == moment)
        earlier = await position_at(fresh_pool, moment - dt.timedelta(microseconds=1), head)
        assert earlier == first - 1
        details = await kept_details(fresh_pool, ORG, event_id)
        state = await replay(fresh_pool, 0).state(ORG, event_id, position)
        assert everything(state, details, MAX_LIMIT) == live
    before = log[0].recorded_at - dt.timedelta(seconds=1)
    assert await position_at(fresh_pool, before, head) == 0


async def test_snapshots_give_the_same_answers(
    fresh_pool: asyncpg.Pool, day: tuple[PostgresEventStore, str, list[tuple[int, Any]]]
) -> None:
    store, event_id, _ = day
    details = await kept_details(fresh_pool, ORG, event_id)
    head = await store.head()
    mine = (f"event-{ORG}:{event_id}", f"participant-{ORG}:{event_id}:")
    facts = [e.position for e in await whole_log(store) if e.stream_id.startswith(mine)]
    # A fold takes one snapshot: at the last multiple of 3 facts it passes.
    writing = replay(fresh_pool, every=3)
    await writing.state(ORG, event_id, head)
    last = len(facts) // 3 * 3
    assert writing.written == [(ORG, event_id, facts[last - 1])]
    # Every position, in order: each fold starts from the nearest snapshot, folds fewer than 3
    # facts past it or leaves a snapshot where it stopped, and answers as the plain fold does.
    reading = replay(fresh_pool, every=3)
    for position in range(1, head + 1):
        plain = await replay(fresh_pool, 0).state(ORG, event_id, position)
        snapped = await reading.state(ORG, event_id, position)
        assert snapped == plain, position
        started = len([p for p in facts if p <= reading.started_from])
        assert snapped.count - started < 3 or reading.written[-1][2] <= position
        if plain.programme is not None:
            ours = everything(snapped, details, MAX_LIMIT)
            assert ours == everything(plain, details, MAX_LIMIT), position
    stored = await fresh_pool.fetch(
        "SELECT position, facts FROM replay_snapshots WHERE organisation = $1 AND event_id = $2"
        " ORDER BY position",
        ORG,
        event_id,
    )
    assert [(r["position"], r["facts"]) for r in stored] == [
        (facts[n - 1], n) for n in range(3, len(facts) + 1, 3)
    ]
