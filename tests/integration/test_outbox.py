"""The transactional outbox (migrations 0024-0027): a notifying fact's append writes exactly one
outbox row, in its own transaction; any other fact writes none; an append that does not commit
leaves none."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from registry.domain.event import Event
from registry.domain.events import (
    ALL_EVENTS,
    EventCancelled,
    EventWentOnline,
    PromotedFromWaitlist,
    RegistrationOpened,
    SeatAssigned,
    SeatReleased,
    SeatsOverlapped,
    SessionCancelled,
    SessionCapacityChanged,
    SessionRescheduled,
    SessionsMerged,
    Waitlisted,
    WaitlistLeft,
)
from registry.domain.streams import event_stream, participant_stream
from registry.eventstore import ANY, EventCodec, StreamAppend, WrongExpectedVersion
from registry.eventstore.postgres import PostgresEventStore

EVENT = event_stream("acme", "almelo")
ANN = participant_stream("acme", "almelo", "ann")
AT = dt.datetime(2024, 1, 11, 14, tzinfo=dt.timezone(dt.timedelta(hours=1)))

OUTBOX = "SELECT * FROM outbox ORDER BY id"
# Rows written by one transaction share its xmin: the outbox row commits with its event.
SAME_TRANSACTION = """
SELECT count(*) FROM outbox o JOIN events e ON e.position = o.position
 WHERE o.xmin::text = e.xmin::text
"""

NOTIFYING: list[tuple[str, Event]] = [
    (ANN, PromotedFromWaitlist(participant_id="ann", session_id="s1", ticket=3)),
    (ANN, SeatReleased(participant_id="ann", session_id="s1", reason="session-cancelled")),
    (ANN, SeatReleased(participant_id="ann", session_id="s1", reason="event-cancelled")),
    (ANN, WaitlistLeft(participant_id="ann", session_id="s1", reason="merged")),
    (ANN, SeatsOverlapped(participant_id="ann", session_ids=("s1", "s2"))),
    (EVENT, SessionRescheduled(session_id="s1", starts_at=AT, ends_at=AT)),
    (EVENT, SessionCapacityChanged(session_id="s1", capacity=10, room_id=None, mode="online")),
    (EVENT, SessionCancelled(session_id="s1", reason="ill")),
    (EVENT, SessionsMerged(session_id="s1", into="s2")),
    (EVENT, EventCancelled(reason="storm")),
    (EVENT, EventWentOnline(reason="storm", capacity=None)),
]
SILENT: list[tuple[str, Event]] = [
    (ANN, SeatAssigned(participant_id="ann", session_id="s1", ticket=1)),
    (ANN, Waitlisted(participant_id="ann", session_id="s1", ticket=2)),
    (ANN, SeatReleased(participant_id="ann", session_id="s1", reason="cancelled")),
    (ANN, SeatReleased(participant_id="ann", session_id="s1", reason="promoted")),
    (ANN, WaitlistLeft(participant_id="ann", session_id="s1", reason="registration-cancelled")),
    (EVENT, RegistrationOpened()),
]


@pytest.fixture
def store(fresh_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))


async def outbox(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(await conn.fetch(OUTBOX))


@pytest.mark.parametrize(("stream", "event"), NOTIFYING, ids=lambda v: getattr(v, "type_name", v))
async def test_a_notifying_fact_writes_one_outbox_row_in_its_transaction(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, stream: str, event: Event
) -> None:
    result = await store.append([StreamAppend(stream, ANY, [event])])
    rows = await outbox(fresh_pool)
    assert len(rows) == 1
    row = rows[0]
    assert row["position"] == result.position
    assert row["organisation"] == "acme"
    assert row["event_key"] == "acme:almelo"
    assert row["type"] == event.type_name
    async with fresh_pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT data, recorded_at FROM events")
        assert await conn.fetchval(SAME_TRANSACTION) == 1
    assert stored is not None
    assert row["data"] == stored["data"]
    assert row["recorded_at"] == stored["recorded_at"]
    assert row["fanned_out_at"] is None


@pytest.mark.parametrize(("stream", "event"), SILENT, ids=lambda v: getattr(v, "type_name", v))
async def test_any_other_fact_writes_none(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, stream: str, event: Event
) -> None:
    await store.append([StreamAppend(stream, ANY, [event])])
    assert await outbox(fresh_pool) == []


async def test_one_append_of_several_facts_writes_a_row_per_notifying_fact(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    result = await store.append(
        [
            StreamAppend(EVENT, ANY, [SessionCancelled(session_id="s1", reason="ill")]),
            StreamAppend(
                ANN,
                ANY,
                [
                    SeatReleased(participant_id="ann", session_id="s1", reason="session-cancelled"),
                    SeatAssigned(participant_id="ann", session_id="s2", ticket=1),
                ],
            ),
        ]
    )
    rows = await outbox(fresh_pool)
    assert [r["type"] for r in rows] == ["SessionCancelled", "SeatReleased"]
    assert [r["position"] for r in rows] == list(result.positions[:2])


async def test_an_append_that_does_not_commit_leaves_no_row(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    promoted = PromotedFromWaitlist(participant_id="ann", session_id="s1", ticket=3)
    async with fresh_pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await store.append_on(conn, [StreamAppend(ANN, ANY, [promoted])])
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1  # inside, it is there
        await transaction.rollback()
    assert await outbox(fresh_pool) == []
    # Refused by append_events itself (a wrong expected version): nothing either.
    with pytest.raises(WrongExpectedVersion):
        await store.append([StreamAppend(ANN, 5, [promoted])])
    assert await outbox(fresh_pool) == []
