"""The hash chain on PostgreSQL: the chainer hashes only the final prefix of the log, in position
order, once, across out-of-order commits, gaps and concurrent appends with two would-be leaders;
verify_chain passes an untouched log and names the first bad position of a tampered one."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
import time

import asyncpg
import pytest

from registry.audit import log_reads
from registry.audit.chain import GENESIS, LoggedEvent, chain
from registry.audit.chain_check import READ_EVENTS, Seal, chain_report, verify_chain
from registry.audit.chainer import Chainer, ChainState, SealPolicy, chain_batch, load_state
from registry.domain.events import ALL_EVENTS, EventCreated, RoomAdded
from registry.eventstore import NO_STREAM, EventCodec, StreamAppend
from registry.eventstore.postgres import PostgresEventStore
from tests.support.events import Deposited, Noted, Opened, test_codec


@pytest.fixture
def store(fresh_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(fresh_pool, test_codec())


async def append(store: PostgresEventStore, stream: str, count: int = 1) -> list[int]:
    facts = [Deposited(amount=i) for i in range(count)]
    return list((await store.append([StreamAppend(stream, None, facts)])).positions)


async def links(pool: asyncpg.Pool) -> list[tuple[int, int]]:
    rows = await pool.fetch("SELECT position, prev_position FROM event_hashes ORDER BY position")
    return [(r["position"], r["prev_position"]) for r in rows]


async def catch_up(pool: asyncpg.Pool, **kw: object) -> ChainState:
    async with pool.acquire() as conn:
        state = await load_state(conn)
        while await chain_batch(conn, state, **kw):  # type: ignore[arg-type]
            pass
    return state


async def test_an_open_append_holds_the_chain_back_and_its_gap_is_stepped_over(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    async with fresh_pool.acquire() as first:
        early_tx = first.transaction()
        await early_tx.start()
        early = await store.append_on(
            first, [StreamAppend("acct-1", NO_STREAM, [Opened(owner="a")])]
        )
        late = await append(store, "acct-2")
        assert early.position < late[0]
        # The later append has committed; the chain may not pass the open smaller position.
        assert (await catch_up(fresh_pool)).position == 0
        await early_tx.commit()
    async with fresh_pool.acquire() as conn:
        lost_tx = conn.transaction()
        await lost_tx.start()
        lost = await store.append_on(conn, [StreamAppend("acct-3", NO_STREAM, [Noted(text="x")])])
        await lost_tx.rollback()
    after = await append(store, "acct-4")
    state = await catch_up(fresh_pool)
    assert state.position == after[0]
    assert await links(fresh_pool) == [
        (early.position, 0),
        (late[0], early.position),
        (after[0], late[0]),  # over the gap the rolled-back append left
    ]
    assert lost.position not in {p for p, _ in await links(fresh_pool)}
    async with fresh_pool.acquire() as conn:
        assert await verify_chain(conn) == []


async def test_concurrent_appends_make_one_chain_with_one_leader(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, fresh_database_url: str
) -> None:
    """A hammer of appends, overlapping and committing in any order, while two chainers run:
    one leads; every event is hashed once, in position order, linked to the one before."""
    chainers = [
        Chainer(
            lambda: asyncpg.connect(fresh_database_url),
            batch_size=50,
            seals=SealPolicy(every=100, interval_s=0.5),
            lead_retry_s=0.1,
        )
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(c.run()) for c in chainers]
    writers, appends_each = 20, 40
    written: list[int] = []

    async def writer(w: int) -> None:
        for i in range(appends_each):
            written.extend(await append(store, f"acct-w{w}", 1 + i % 3))

    try:
        await asyncio.gather(*(writer(w) for w in range(writers)))
        deadline = time.monotonic() + 30
        while (await links(fresh_pool))[-1:] != [(max(written), _prev(written))]:
            assert time.monotonic() < deadline, "the chain did not reach the head"
            await asyncio.sleep(0.05)
        assert sum(c.leading for c in chainers) == 1
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    order = sorted(written)
    assert await links(fresh_pool) == list(zip(order, [0, *order[:-1]], strict=True))
    async with fresh_pool.acquire() as conn:
        report = await chain_report(conn)
        assert report.findings == []
        assert (report.events, report.hashed, report.pending) == (len(order), len(order), 0)
        assert report.seals_checked >= len(order) // 200  # every 100 or so, at a batch end
        rows = await conn.fetch(READ_EVENTS + " ORDER BY position")
        stored = await conn.fetch("SELECT hash FROM event_hashes ORDER BY position")
    recomputed = [x.hash for x in chain(LoggedEvent._make(r) for r in rows)]
    assert recomputed == [bytes(r["hash"]) for r in stored]


def _prev(written: list[int]) -> int:
    order = sorted(written)
    return order[-2] if len(order) > 1 else 0


# -- tampering --------------------------------------------------------------------------------


@pytest.fixture
async def chained(store: PostgresEventStore, fresh_pool: asyncpg.Pool) -> list[int]:
    """Twelve hashed events in four streams, sealed at 6 and at 12."""
    positions: list[int] = []
    for i in range(4):
        positions += await append(store, f"acct-{i}", 3)
    await catch_up(fresh_pool, batch_size=6, seals=SealPolicy(every=6, interval_s=3600))
    async with fresh_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM log_seals") == 2
        assert await verify_chain(conn) == []
    return sorted(positions)


async def tamper(pool: asyncpg.Pool, *statements: str) -> None:
    """As a maintenance task would (migrations/0030): the only role the log lets rewrite it."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE registry_maintenance")
        for sql in statements:
            await conn.execute(sql)


async def findings(pool: asyncpg.Pool) -> list[tuple[int, str]]:
    async with pool.acquire() as conn:
        return [(f.position, f.what.split(":")[0]) for f in await verify_chain(conn)]


async def test_changed_data_is_named(fresh_pool: asyncpg.Pool, chained: list[int]) -> None:
    await tamper(fresh_pool, "UPDATE events SET data = '{\"amount\": 1000}' WHERE position = 5")
    assert await findings(fresh_pool) == [(5, "data changed")]


async def test_changed_metadata_or_time_is_named(
    fresh_pool: asyncpg.Pool, chained: list[int]
) -> None:
    await tamper(
        fresh_pool,
        'UPDATE events SET metadata = \'{"actor": "someone"}\' WHERE position = 3',
        "UPDATE events SET recorded_at = recorded_at + interval '1 microsecond' WHERE position = 9",
    )
    assert await findings(fresh_pool) == [(3, "data changed"), (9, "data changed")]


async def test_a_deleted_event_is_named(fresh_pool: asyncpg.Pool, chained: list[int]) -> None:
    await tamper(fresh_pool, "DELETE FROM events WHERE position = 7")
    assert await findings(fresh_pool) == [(7, "event missing")]


async def test_an_event_deleted_with_its_hash_is_named(
    fresh_pool: asyncpg.Pool, chained: list[int]
) -> None:
    await tamper(
        fresh_pool,
        "DELETE FROM events WHERE position = 4",
        "DELETE FROM event_hashes WHERE position = 4",
    )
    assert await findings(fresh_pool) == [(4, "event missing")]


async def test_swapped_events_are_named(fresh_pool: asyncpg.Pool, chained: list[int]) -> None:
    # Positions are unique: the swap goes through a free one.
    await tamper(
        fresh_pool,
        "UPDATE events SET position = 1000 WHERE position = 2",
        "UPDATE events SET position = 2 WHERE position = 10",
        "UPDATE events SET position = 10 WHERE position = 1000",
    )
    assert await findings(fresh_pool) == [(2, "order changed")]


async def test_a_log_rewritten_with_its_hashes_breaks_its_seal(
    fresh_pool: asyncpg.Pool, chained: list[int]
) -> None:
    """Data changed and every hash from there recomputed: each link holds, the seal at 12 does
    not; the change lies after the good seal at 6. A seal kept outside catches it as well
    when the stored seals were rewritten too."""
    await tamper(fresh_pool, "UPDATE events SET data = '{\"amount\": 1000}' WHERE position = 8")
    async with fresh_pool.acquire() as conn, conn.transaction():
        kept = [Seal(r["position"], bytes(r["hash"])) for r in await conn.fetch(SEALS)]
        rows = await conn.fetch(READ_EVENTS + " WHERE position >= 8 ORDER BY position")
        start = await conn.fetchval("SELECT hash FROM event_hashes WHERE position = 7")
        await conn.execute("DELETE FROM event_hashes WHERE position >= 8")
        relinked = chain((LoggedEvent._make(r) for r in rows), bytes(start), 7)
        await conn.executemany(
            "INSERT INTO event_hashes VALUES ($1, $2, $3)", [tuple(x) for x in relinked]
        )
    assert await findings(fresh_pool) == [(7, "seal")]
    async with fresh_pool.acquire() as conn:
        await conn.execute(
            "UPDATE log_seals SET hash = (SELECT hash FROM event_hashes WHERE position = 12) "
            "WHERE position = 12"
        )
        assert await verify_chain(conn) == []  # the database alone is consistent again
        found = await verify_chain(conn, seals=kept)
    assert [(f.position, f.what.split(":")[0]) for f in found] == [(7, "seal")]


async def test_a_pending_tail_is_no_error(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, chained: list[int]
) -> None:
    await append(store, "acct-9", 4)
    async with fresh_pool.acquire() as conn:
        report = await chain_report(conn)
    assert (report.findings, report.pending, report.chained_to) == ([], 4, 12)


async def test_an_event_without_a_hash_before_hashed_ones_is_named(
    fresh_pool: asyncpg.Pool, chained: list[int]
) -> None:
    async with fresh_pool.acquire() as conn:
        await conn.execute("DELETE FROM event_hashes WHERE position = 11")
    # 12 links to 11 still, so the hole is seen from both sides; the first position is 11.
    assert (await findings(fresh_pool))[0] == (11, "event not in the chain")


async def test_the_chainer_reloads_when_the_chain_moved_under_it(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    await append(store, "acct-1", 3)
    async with fresh_pool.acquire() as conn:
        stale = ChainState()
        await catch_up(fresh_pool)
        with pytest.raises(asyncpg.UniqueViolationError):
            await chain_batch(conn, stale)
        assert stale == ChainState()  # nothing moved: a failed batch leaves the state alone
        assert (await load_state(conn)).hash != GENESIS


SEALS = "SELECT position, hash FROM log_seals ORDER BY position"
DAY = dt.date(2024, 1, 11)


async def test_the_audit_log_shows_hashes_once_chained_and_nothing_past_the_fence(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool
) -> None:
    first = await append(store, "event-acme:day", 2)
    await append(store, "event-other:day")
    async with fresh_pool.acquire() as conn:
        page = await log_reads.log_page(conn, "acme", 1, 10)
        assert [(i["position"], i["hash"], i["prev_hash"]) for i in page.items] == [
            (p, None, None) for p in first
        ]
        await catch_up(fresh_pool)
        page = await log_reads.log_page(conn, "acme", 1, 10)
        assert [i["prev_position"] for i in page.items] == [0, first[0]]
        assert page.items[0]["prev_hash"] == GENESIS.hex()
        assert page.items[1]["prev_hash"] == page.items[0]["hash"]
        async with fresh_pool.acquire() as other:
            open_tx = other.transaction()
            await open_tx.start()
            held = await store.append_on(
                other, [StreamAppend("event-acme:x", NO_STREAM, [Noted(text="x")])]
            )
            later = await append(store, "event-acme:day")
            page = await log_reads.log_page(conn, "acme", 1, 10)
            assert page.position < held.position  # neither the open append nor what follows it
            assert [i["position"] for i in page.items] == first
            await open_tx.commit()
        page = await log_reads.log_page(conn, "acme", first[1], 1)
        assert ([i["position"] for i in page.items], page.next_from) == ([first[1]], first[1] + 1)
        assert page.position == later[0]
        rest = await log_reads.log_page(conn, "acme", first[1] + 1, 10)
        assert ([i["position"] for i in rest.items], rest.next_from) == (
            [held.position, *later],
            None,
        )


async def test_registry_projections_run_chains_the_log(
    fresh_pool: asyncpg.Pool, fresh_database_url: str
) -> None:
    """docker-compose's projector service: `registry projections run` leads the chain too."""
    store = PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))
    facts = [
        EventCreated(event_id="day", title="Day", timezone="Europe/Amsterdam", date=DAY),
        RoomAdded(room_id="hall", name="Hall", capacity=10),
    ]
    written = await store.append([StreamAppend("event-acme:day", NO_STREAM, facts)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "registry.cli", "projections", "run",
        env=env | {"REGISTRY_DATABASE_URL": fresh_database_url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while (await links(fresh_pool))[-1:] != [(written.position, written.positions[0])]:
            assert process.returncode is None, "the projector stopped"
            assert time.monotonic() < deadline, "the projector's chainer did not chain the log"
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.wait()
    assert process.returncode == 0
