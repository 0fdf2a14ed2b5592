"""`registry verify`'s read-model check over an event of more sessions than it reads at once
(verify_reads.SESSIONS_AT_ONCE): every session is checked, each waitlist's fallbacks are the
replay's (found through `held_by`, one pass over the seats), and what is reported is what one
session at a time would report: the first findings in session order, at most MOST_PER_EVENT."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from registry.audit.findings import Finding
from registry.audit.verify import Phases, verify
from registry.audit.verify_reads import MOST_PER_EVENT, READ_MODEL, SESSIONS_AT_ONCE
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain import programme as rules
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import programme, registration
from registry.handlers.gate_sync import GateKeeper
from tests.support.programme import at, ctx
from tests.support.read_models import catch_up

#: Sessions of one seat each, all at the same hour: s00 .. s19, in the reads' order.
SESSIONS = [f"s{n:02}" for n in range(SESSIONS_AT_ONCE * 2 + 4)]


def person(n: int) -> str:
    return f"q{n % len(SESSIONS):02}"


async def crowded(keeper: GateKeeper, event_id: str) -> None:
    """q_n seated in s_n; q_n+1 waiting in s_n, holding s_n+1 as the fallback."""
    create = cmd.CreateEvent(
        id=event_id, title="Day", timezone="Europe/Amsterdam", date=at(0).date()
    )
    await programme.create_event(keeper, ctx(), create)
    for sid in SESSIONS:
        session = cmd.ScheduleSession(
            id=sid, title=sid, starts_at=at(10), ends_at=at(11), room_id=None, capacity=1,
            mode="online",
        )  # fmt: skip
        await programme.change_programme(
            keeper, ctx(), event_id, lambda p, s=session: rules.decide_schedule(p, s), 201
        )
    await programme.change_programme(
        keeper, ctx(), event_id, lambda p: rules.decide_registration(p, True), 200
    )
    for n in range(len(SESSIONS)):
        who = person(n)
        register = cmd.RegisterParticipant(id=who, name=who, email=f"{who}@example.org")
        await registration.register_participant(keeper, ctx(), event_id, register)
    for n, sid in enumerate(SESSIONS):
        await registration.sign_up(keeper, ctx(), event_id, person(n), cmd.SignUp(session_id=sid))
    for n, sid in enumerate(SESSIONS):
        signed = await registration.sign_up(
            keeper, ctx(), event_id, person(n + 1), cmd.SignUp(session_id=sid)
        )
        assert signed[0].body["status"] == "waitlisted"


@pytest.fixture
async def event(fresh_pool: asyncpg.Pool) -> tuple[asyncpg.Pool, PostgresEventStore, str]:
    store = PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    await crowded(GateKeeper(store, MemoryGate()), event_id)
    await catch_up(fresh_pool, store)
    return fresh_pool, store, event_id


async def read_model_findings(pool: asyncpg.Pool, store: PostgresEventStore) -> list[Finding]:
    progress: list[tuple[int, int]] = []
    phases = Phases(read_models=lambda done, total: progress.append((done, total)))
    report = await verify(pool, store, EventCodec(ALL_EVENTS), phases)
    assert progress[-1] == (len(SESSIONS) + 1, len(SESSIONS) + 1)  # every session, and the event
    return report.findings[READ_MODEL]


def reads_of(findings: list[Finding]) -> list[str]:
    return [f.what.split(": ")[0].split(" ", 1)[1] for f in findings]


async def test_every_session_agrees_with_the_replay_waitlists_and_fallbacks_included(
    event: tuple[asyncpg.Pool, PostgresEventStore, str],
) -> None:
    pool, store, event_id = event
    waiting = await pool.fetch(
        "SELECT session_id, participant_id FROM rm_waits WHERE event_id = $1", event_id
    )
    assert len(waiting) == len(SESSIONS)
    assert await read_model_findings(pool, store) == []


async def test_a_fallback_gone_from_the_read_model_is_found_in_the_waitlist_that_shows_it(
    event: tuple[asyncpg.Pool, PostgresEventStore, str],
) -> None:
    pool, store, event_id = event
    # q05's seat in s05 is the fallback of q05's place in s04's queue.
    await pool.execute(
        "DELETE FROM rm_seats WHERE event_id = $1 AND participant_id = 'q05'", event_id
    )
    found = await read_model_findings(pool, store)
    assert reads_of(found) == ["waitlist of s04", "attendees of s05"]
    assert "fallback_session_id is None, the replay's 's05'" in found[0].what


async def test_findings_in_many_sessions_are_the_first_ones_in_session_order(
    event: tuple[asyncpg.Pool, PostgresEventStore, str],
) -> None:
    pool, store, event_id = event
    await pool.execute("DELETE FROM rm_seats WHERE event_id = $1", event_id)  # every attendee
    found = await read_model_findings(pool, store)
    assert len(found) == MOST_PER_EVENT
    # s00's attendees first, then its waitlist (its fallback gone too), and on in order.
    assert reads_of(found) == [
        "attendees of s00",
        "waitlist of s00",
        "attendees of s01",
        "waitlist of s01",
        "attendees of s02",
    ]
