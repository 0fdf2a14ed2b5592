"""The PostgreSQL event store beyond the contract: global order under concurrent, out-of-order
commits, the fence, NOTIFY wake-ups surviving a dropped connection, and racing writers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from registry.eventstore import (
    ANY,
    NO_STREAM,
    AppendNotFirstWrite,
    EventCodec,
    GateFence,
    RecordedEvent,
    StaleGateDecision,
    StreamAppend,
    WrongExpectedVersion,
)
from registry.eventstore.postgres import PostgresEventStore
from tests.support.events import Deposited, Noted, Opened, test_codec
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name

# Every pair of events must be in the same order by position as by writing transaction id: the
# property append_events establishes so that the xmin fence never passes a later commit.
ORDER_VIOLATIONS = """
SELECT count(*) FROM events a JOIN events b
    ON a.position < b.position AND a.transaction_id > b.transaction_id
"""


@pytest.fixture
def store(fresh_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(fresh_pool, test_codec(), poll_interval=0.2)


class Collector:
    """Runs a subscription in the background and keeps what it delivers."""

    def __init__(self, store: PostgresEventStore, from_position: int = 1) -> None:
        self.events: list[RecordedEvent] = []
        self._iterator = store.subscribe(from_position)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._iterator:
            self.events.append(event)

    async def wait_for(self, count: int, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while len(self.events) < count:
            assert time.monotonic() < deadline, f"got {len(self.events)} of {count} events"
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._iterator.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def collector(store: PostgresEventStore) -> AsyncIterator[Collector]:
    subscription = Collector(store)
    await asyncio.sleep(0.1)  # let it LISTEN
    yield subscription
    await subscription.stop()


async def test_out_of_order_commit_is_never_passed(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, collector: Collector
) -> None:
    async with fresh_pool.acquire() as first:
        transaction = first.transaction()
        await transaction.start()
        early = await store.append_on(
            first, [StreamAppend("account-1", NO_STREAM, [Opened(owner="a")])]
        )
        late = await store.append([StreamAppend("account-2", NO_STREAM, [Opened(owner="b")])])
        assert early.position < late.position  # the open transaction holds the smaller position

        # The later append has committed, but a reader must not pass the open smaller position.
        assert await store.read_all() == []
        assert await store.head() == 0
        await asyncio.sleep(0.3)
        assert collector.events == []

        await transaction.commit()

    await collector.wait_for(2)
    assert [e.position for e in await store.read_all()] == [early.position, late.position]
    await asyncio.sleep(0.3)  # any duplicate would arrive by now
    assert [e.position for e in collector.events] == [early.position, late.position]
    assert await store.head() == late.position


async def test_rolled_back_append_leaves_a_gap_readers_do_not_wait_for(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, collector: Collector
) -> None:
    async with fresh_pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        lost = await store.append_on(
            conn, [StreamAppend("account-1", NO_STREAM, [Noted(text="x")])]
        )
        kept = await store.append([StreamAppend("account-2", NO_STREAM, [Noted(text="y")])])
        await transaction.rollback()
    await collector.wait_for(1)
    assert [e.position for e in await store.read_all()] == [kept.position]
    assert lost.position < kept.position
    assert [e.position for e in collector.events] == [kept.position]


async def test_append_must_be_the_first_write_of_its_transaction(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    async with fresh_pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_current_xact_id()")  # the transaction owns an id now
        with pytest.raises(AppendNotFirstWrite):
            await store.append_on(conn, [StreamAppend("account-1", ANY, [Noted(text="x")])])
    assert await store.read_all() == []


@pytest.mark.slow
async def test_concurrent_writers_lose_nothing_and_agree_on_order(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, collector: Collector
) -> None:
    writers, appends_each, racers = 50, 200, 20
    acknowledged: list[int] = []
    race_wins: list[tuple[int, int]] = []  # (stream version, position)
    conflicts: list[bool] = []  # for each lost race: did the stream really move on?

    async def own_stream(writer: int) -> None:
        for i in range(appends_each):
            result = await store.append(
                [StreamAppend(f"account-w{writer}", i, [Deposited(amount=i)])]
            )
            acknowledged.extend(result.positions)

    async def racer(racer_id: int) -> None:
        for attempt in range(40):
            current = await store.read_stream("race-1")
            version = len(current)
            try:
                result = await store.append(
                    [StreamAppend("race-1", version, [Noted(text=f"{racer_id}/{attempt}")])]
                )
            except WrongExpectedVersion as lost:
                conflicts.append(lost.actual > version)
                continue
            race_wins.append((result.stream_versions[0], result.positions[0]))
            acknowledged.extend(result.positions)

    await asyncio.gather(
        *(own_stream(w) for w in range(writers)), *(racer(r) for r in range(racers))
    )

    assert conflicts
    assert all(conflicts)
    # One winner per version of the raced stream, and its versions have no gaps.
    versions = sorted(v for v, _ in race_wins)
    assert versions == list(range(1, len(versions) + 1))
    stream = await store.read_stream("race-1")
    assert [e.stream_version for e in stream] == versions
    assert {e.position for e in stream} == {p for _, p in race_wins}
    for writer in range(writers):
        own = await store.read_stream(f"account-w{writer}")
        assert [e.stream_version for e in own] == list(range(1, appends_each + 1))

    # Every acknowledged event is read back exactly once, in order, by paging and by a subscriber.
    assert len(acknowledged) == writers * appends_each + len(race_wins)
    paged: list[int] = []
    position = 1
    while page := await store.read_all(position, limit=997):
        paged.extend(e.position for e in page)
        position = page[-1].position + 1
    assert paged == sorted(acknowledged)
    await collector.wait_for(len(acknowledged))
    await asyncio.sleep(0.3)
    assert [e.position for e in collector.events] == sorted(acknowledged)
    async with fresh_pool.acquire() as conn:
        assert await conn.fetchval(ORDER_VIOLATIONS) == 0


async def test_concurrent_twins_of_one_command_have_one_effect(store: PostgresEventStore) -> None:
    async def attempt() -> tuple[int, ...]:
        result = await store.append(
            [StreamAppend("account-1", ANY, [Deposited(amount=1)])],
            command_id="deposit-once",
            fingerprint="same-body",
        )
        return result.positions

    results = await asyncio.gather(*(attempt() for _ in range(20)))
    assert len(set(results)) == 1
    assert len(await store.read_stream("account-1")) == 1


async def test_concurrent_twins_with_an_expected_version_replay_instead_of_conflicting(
    store: PostgresEventStore,
) -> None:
    await store.append([StreamAppend("account-1", NO_STREAM, [Opened(owner="a")])])
    results = await asyncio.gather(
        *(
            store.append(
                [StreamAppend("account-1", 1, [Deposited(amount=1)])],
                command_id="deposit-v1",
                fingerprint="same-body",
            )
            for _ in range(20)
        )
    )
    assert len({r.positions for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert len(await store.read_stream("account-1")) == 2


async def test_subscription_survives_a_dropped_listening_connection(
    fresh_pool: asyncpg.Pool,
) -> None:
    # Polling so slow that only a working LISTEN can deliver within the test's patience.
    store = PostgresEventStore(fresh_pool, test_codec(), poll_interval=30)
    collector = Collector(store)
    try:
        await asyncio.sleep(0.2)
        await store.append([StreamAppend("account-1", ANY, [Deposited(amount=1)])])
        await collector.wait_for(1, within=5)
        async with fresh_pool.acquire() as conn:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        assert killed >= 1
        await asyncio.sleep(0.5)  # the listener reconnects with backoff
        await store.append([StreamAppend("account-1", ANY, [Deposited(amount=2)])])
        await collector.wait_for(2, within=5)
        assert [e.position for e in collector.events] == [1, 2]
    finally:
        await collector.stop()


class DepositedV1(Deposited, frozen=True):
    type_name = "test.Deposited"
    schema_version = 1


async def test_old_schema_versions_are_upcast_on_read(fresh_pool: asyncpg.Pool) -> None:
    from registry.domain.event import Event

    class DepositedV2(Event, frozen=True):
        type_name = "test.Deposited"
        schema_version = 2
        amount: int
        currency: str

    old = PostgresEventStore(fresh_pool, EventCodec([DepositedV1]))
    await old.append([StreamAppend("account-1", ANY, [DepositedV1(amount=7)])])
    codec = EventCodec([DepositedV2])
    codec.register_upcaster("test.Deposited", 1, lambda data: {**data, "currency": "EUR"})
    new = PostgresEventStore(fresh_pool, codec)
    [event] = await new.read_all()
    assert event.schema_version == 1  # the stored row is untouched
    assert event.event == DepositedV2(amount=7, currency="EUR")


async def test_a_gate_rebuild_waits_for_fenced_appends_in_flight_and_outdates_the_rest(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    async with store.gate_fence("o:e1") as epoch:
        assert epoch == 1
    stream = [StreamAppend("participant-o:e1:p1", ANY, [Noted(text="in flight")])]
    async with fresh_pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await store.append_on(conn, stream, fence=GateFence("o:e1", 1))

        async def rebuild() -> list[RecordedEvent]:
            async with store.gate_fence("o:e1"):
                return await store.read_streams("participant-o:e1:")

        rebuilding = asyncio.create_task(rebuild())
        await asyncio.sleep(0.3)
        assert not rebuilding.done(), "the rebuild must wait for the append in flight"
        await transaction.commit()
    seen = await asyncio.wait_for(rebuilding, 5)
    assert [e.event for e in seen] == [Noted(text="in flight")]  # the rebuild read it
    with pytest.raises(StaleGateDecision):
        await store.append(stream, fence=GateFence("o:e1", 1))
    await store.append(stream, fence=GateFence("o:e1", 2))


async def test_a_long_transaction_that_is_not_an_append_holds_no_reader_back(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, servers: ServerUrls
) -> None:
    """Transaction ids are cluster-wide: a writing transaction in another database of the
    server, or one in this database that writes no event, must not stop the log's readers
    (migrations/0018_log_fence.sql)."""
    other = unique_name("registry_other")
    other_url = await create_database(servers.database_url, other)
    try:
        elsewhere = await asyncpg.connect(other_url)
        here = await fresh_pool.acquire()
        try:
            async with elsewhere.transaction(), here.transaction():
                await elsewhere.execute("CREATE TABLE busy (n int); INSERT INTO busy VALUES (1)")
                await here.execute("SELECT pg_current_xact_id()")  # a write-capable id, no event
                written = await store.append(
                    [StreamAppend("account-1", NO_STREAM, [Opened(owner="a")])]
                )
                assert [e.position for e in await store.read_all()] == [written.position]
                assert await store.head() == written.position
        finally:
            await fresh_pool.release(here)
            await elsewhere.close()
    finally:
        await drop_database(servers.database_url, other)
