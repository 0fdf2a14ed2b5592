"""Registration that closes by itself: scheduled with `close {at}`, closed by the upkeep task once
the time has come (exactly once, whichever process gets there), and sign-ups then refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain import programme_changes as changes
from registry.domain.errors import RegistrationClosed
from registry.domain.events import ALL_EVENTS
from registry.domain.streams import event_stream
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import programme, registration, upkeep
from registry.handlers.gate_sync import GateKeeper
from tests.support.programme import ORG, ctx, set_up

CLOSES_AT = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def keeper(fresh_database_url: str) -> AsyncIterator[GateKeeper]:
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=8)
    try:
        yield GateKeeper(PostgresEventStore(pool, EventCodec(ALL_EVENTS)), MemoryGate())
    finally:
        await pool.close()


async def test_a_scheduled_closing_closes_once_when_its_time_has_come(keeper: GateKeeper) -> None:
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    await set_up(keeper, event_id)
    schedule = cmd.CloseRegistration(at=CLOSES_AT)
    await programme.change_programme(
        keeper,
        ctx(),
        event_id,
        lambda p: changes.decide_close_registration(p, schedule, CLOSES_AT - dt.timedelta(days=1)),
        200,
    )
    before = CLOSES_AT - dt.timedelta(seconds=1)
    assert not await upkeep.close_if_due(keeper, ORG, event_id, before)
    await registration.sign_up(keeper, ctx(), event_id, "p0", cmd.SignUp(session_id="a"))

    after = CLOSES_AT + dt.timedelta(seconds=1)
    # Two processes' upkeep at once: registration is closed by one command, once.
    done = await asyncio.gather(*(upkeep.close_if_due(keeper, ORG, event_id, after) for _ in "ab"))
    assert any(done)
    stream = await keeper.store.read_stream(event_stream(ORG, event_id))
    assert [e.type for e in stream].count("RegistrationClosed") == 1
    assert stream[-1].metadata.actor == "registry"
    with pytest.raises(RegistrationClosed):
        await registration.sign_up(keeper, ctx(), event_id, "p1", cmd.SignUp(session_id="a"))
    await registration.cancel_sign_up(keeper, ctx(), event_id, "p0", "a")  # still possible
    assert not await upkeep.close_if_due(keeper, ORG, event_id, after)  # nothing left to do


async def test_a_passed_closing_refuses_new_participants_before_the_upkeep_closes(
    keeper: GateKeeper,
) -> None:
    """Registering reads the programme anyway, so it needs no upkeep to see the time has come;
    sign-ups are decided by the gate alone and wait for the upkeep's RegistrationClosed."""
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    await set_up(keeper, event_id)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    schedule = cmd.CloseRegistration(at=soon)
    await programme.change_programme(
        keeper,
        ctx(),
        event_id,
        lambda p: changes.decide_close_registration(p, schedule, dt.datetime.now(dt.UTC)),
        200,
    )
    early = cmd.RegisterParticipant(name="Early Bird", email="early@example.org")
    await registration.register_participant(keeper, ctx(), event_id, early)
    await asyncio.sleep((soon - dt.datetime.now(dt.UTC)).total_seconds() + 0.05)
    late = cmd.RegisterParticipant(name="Late Comer", email="late@example.org")
    with pytest.raises(RegistrationClosed):
        await registration.register_participant(keeper, ctx(), event_id, late)
    form = cmd.SubmitRegistration(participant=late, session_ids=["a"])
    with pytest.raises(RegistrationClosed):
        await registration.submit_registration(keeper, ctx(), event_id, form)
