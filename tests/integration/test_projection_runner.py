"""The projection runner on real PostgreSQL: out-of-order commits, exactly once, leadership in
one process, and a rebuild swapped in while sign-ups continue."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from projections import PROJECTIONS, checkpoints
from projections.rebuild import rebuild
from projections.runner import Projector, apply_batch, apply_next, apply_round
from registry.capacity.memory import MemoryGate
from registry.dbtypes import Connection
from registry.domain.events import ALL_EVENTS, ParticipantRegistered
from registry.eventstore import NO_STREAM, EventCodec, RecordedEvent, StreamAppend
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.gate_sync import GateKeeper
from tests.support.invariants import gate_agrees_with_log
from tests.support.load import sign_ups_and_cancellations
from tests.support.programme import ORG, set_up
from tests.support.read_models import (
    answered,
    catch_up,
    expected,
    fold,
    kept_details,
    whole_log,
)


class Recording:
    """A projection that writes nothing but remembers every position it was given; with the
    checkpoint moved in the same transaction, a position seen twice is a batch applied twice."""

    name = "recording"
    tables: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.seen: list[int] = []

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        self.seen += [e.position for e in events]


def registered(who: str) -> ParticipantRegistered:
    return ParticipantRegistered(participant_id=who)


@pytest.fixture
def store(fresh_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))


async def recording_of(pool: asyncpg.Pool, store: PostgresEventStore, people: int) -> Recording:
    """A Recording with its checkpoint, over a log of `people` registrations (positions 1..)."""
    recording = Recording()
    async with pool.acquire() as conn:
        await checkpoints.ensure(conn, recording.name)
    for n in range(people):
        await store.append(
            [StreamAppend(f"participant-acme:e:p{n}", NO_STREAM, [registered(f"p{n}")])]
        )
    return recording


async def test_an_out_of_order_commit_is_neither_skipped_nor_applied_twice(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    recording = Recording()
    async with fresh_pool.acquire() as conn:
        await checkpoints.ensure(conn, recording.name)
    async with fresh_pool.acquire() as first:
        transaction = first.transaction()
        await transaction.start()
        early = await store.append_on(
            first, [StreamAppend("participant-acme:e:ann", NO_STREAM, [registered("ann")])]
        )
        late = await store.append(
            [StreamAppend("participant-acme:e:bob", NO_STREAM, [registered("bob")])]
        )
        assert early.position < late.position
        # bob's event has committed, ann's smaller position has not: the runner must wait.
        assert await apply_batch(fresh_pool, store, recording) == 0
        await transaction.commit()
    assert await apply_batch(fresh_pool, store, recording) == 2
    assert await apply_batch(fresh_pool, store, recording) == 0
    assert recording.seen == [early.position, late.position]
    async with fresh_pool.acquire() as conn:
        assert (await checkpoints.live(conn, recording.name)).position == late.position


async def test_a_runner_with_a_stale_mark_applies_nothing_and_reads_again(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    """The mark saves reading the checkpoint; the batch's lock still compares it. Two runners
    keep marks; the one whose mark another moved past applies nothing, then catches up."""
    recording = await recording_of(fresh_pool, store, 4)
    applied, mark = await apply_next(fresh_pool, store, recording, batch_size=2)
    assert (applied, mark) == (2, (1, 2))
    other, _ = await apply_next(fresh_pool, store, recording, batch_size=2)  # reads the row
    assert other == 2
    assert await apply_next(fresh_pool, store, recording, batch_size=2, known=mark) == (0, None)
    assert await apply_next(fresh_pool, store, recording, batch_size=2) == (0, (1, 4))
    assert recording.seen == [1, 2, 3, 4]  # each once: the stale mark applied nothing


async def test_two_runners_racing_apply_each_batch_once(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    recording = await recording_of(fresh_pool, store, 300)

    async def runner() -> None:
        for _ in range(10_000):  # bounded: 300 events in batches of 7, raced by four
            if not await apply_batch(fresh_pool, store, recording, batch_size=7):
                if len(set(recording.seen)) >= 300:
                    return
                await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(*(runner() for _ in range(4))), 30)
    assert sorted(recording.seen) == list(range(1, 301))  # each position once


async def test_one_process_leads_each_projection_once(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    """Two projectors side by side (as two API workers): each projection has one leader."""

    def connect() -> asyncpg.Connection:
        return asyncpg.connect(fresh_database_url)  # type: ignore[return-value]

    first = Projector(fresh_pool, store, PROJECTIONS, connect, lead_retry_s=0.1)
    second = Projector(fresh_pool, store, PROJECTIONS, connect, lead_retry_s=0.1)
    runs = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        names = {p.name for p in PROJECTIONS}
        for _ in range(100):
            if first.leading | second.leading == names:
                break
            await asyncio.sleep(0.05)
        assert first.leading | second.leading == names
        assert not first.leading & second.leading
    finally:
        for run in runs:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run


async def test_one_process_leads_the_whole_set_and_a_stand_by_takes_it_over(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    """Two projectors with the same projections (two API workers started together) do not split
    them: one leads them all (one read of the log a round), the other stands by, and takes all
    of them when the first stops."""

    connections = itertools.count()

    class StallingOnce:
        """A leadership connection; the first projector's stalls after its first lock taken
        (a busy machine), and the second, started meanwhile, catches up with it."""

        def __init__(self, conn: asyncpg.Connection) -> None:
            self._conn = conn
            self._stall = next(connections) == 0

        async def fetchval(self, *args: object) -> object:
            value = await self._conn.fetchval(*args)
            if self._stall:
                self._stall = False
                await asyncio.sleep(0.5)
            return value

        async def close(self) -> None:
            await self._conn.close()

    async def connect() -> StallingOnce:
        return StallingOnce(await asyncpg.connect(fresh_database_url))

    names = {p.name for p in PROJECTIONS}
    projectors = [
        Projector(fresh_pool, store, PROJECTIONS, connect, lead_retry_s=0.05) for _ in range(2)
    ]
    runs = [asyncio.create_task(projector.run()) for projector in projectors]
    try:
        for _ in range(100):
            if any(p.leading == names for p in projectors):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # several of the stand-by's tries
        leaders = [i for i, p in enumerate(projectors) if p.leading == names]
        assert leaders, f"the set split: {[sorted(p.leading) for p in projectors]}"
        leader = leaders[0]
        stand_by = projectors[1 - leader]
        assert stand_by.leading == set()
        runs[leader].cancel()  # its connection closes: PostgreSQL drops its locks
        with contextlib.suppress(asyncio.CancelledError):
            await runs[leader]
        for _ in range(100):
            if stand_by.leading == names:
                break
            await asyncio.sleep(0.05)
        assert stand_by.leading == names
    finally:
        for run in runs:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run


async def load_while_rebuilt(
    keeper: GateKeeper, event_id: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> int:
    """Every projection rebuilt and swapped in while four clients sign up and cancel; how many
    of their commands were carried out."""
    stop, written, rng = asyncio.Event(), [0], random.Random(3)
    load = [
        asyncio.create_task(sign_ups_and_cancellations(keeper, event_id, stop, rng, written))
        for _ in range(4)
    ]
    try:
        await asyncio.sleep(0.3)
        for projection in PROJECTIONS:  # each swapped in mid-load
            generation, _ = await rebuild(pool, store, projection, batch_size=25)
            assert generation == 2
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.gather(*load)
    return written[0]


@pytest.mark.slow
async def test_a_rebuild_swapped_in_while_sign_ups_continue_loses_nothing(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    keeper = GateKeeper(store, MemoryGate())
    event_id = "busy-day"
    await set_up(keeper, event_id)
    await catch_up(fresh_pool, store)

    def connect() -> asyncpg.Connection:
        return asyncpg.connect(fresh_database_url)  # type: ignore[return-value]

    projector = Projector(fresh_pool, store, PROJECTIONS, connect, batch_size=20, lead_retry_s=0.1)
    running = asyncio.create_task(projector.run())
    try:
        written = await load_while_rebuilt(keeper, event_id, fresh_pool, store)
        head = await store.head()
        for _ in range(200):  # the live runner catches up in the new generation
            async with fresh_pool.acquire() as conn:
                reached = await checkpoints.positions(conn, [p.name for p in PROJECTIONS])
            if min(reached.values()) >= head:
                break
            await asyncio.sleep(0.05)
    finally:  # even when an assertion fails: its LISTEN holds one of the pool's connections
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert written > 20
    await gate_agrees_with_log(fresh_pool, keeper.gate, ORG, event_id)  # no hold left busy
    live = await answered(fresh_pool, ORG, event_id)
    details = await kept_details(fresh_pool, ORG, event_id)
    assert live == expected(fold(await whole_log(store), ORG, event_id, details))
    for projection in PROJECTIONS:
        await rebuild(fresh_pool, store, projection)
    assert await answered(fresh_pool, ORG, event_id) == live
    async with fresh_pool.acquire() as conn:  # the replaced generations were cleared
        assert await conn.fetchval("SELECT count(*) FROM rm_seats WHERE generation < 3") == 0


async def test_a_rebuild_that_died_leaves_nothing_the_next_one_keeps(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    keeper = GateKeeper(store, MemoryGate())
    await set_up(keeper, "crashy")
    await catch_up(fresh_pool, store)
    catalog = next(p for p in PROJECTIONS if p.name == "catalog")
    before = await answered(fresh_pool, ORG, "crashy")

    def die(position: int, head: int) -> None:
        raise RuntimeError("the rebuild's process died")

    with pytest.raises(RuntimeError):
        await rebuild(fresh_pool, store, catalog, batch_size=5, progress=die)
    async with fresh_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM rm_sessions WHERE generation = 2") > 0
    assert await answered(fresh_pool, ORG, "crashy") == before  # the live one never noticed
    generation, _ = await rebuild(fresh_pool, store, catalog, batch_size=5)
    assert generation == 2
    async with fresh_pool.acquire() as conn:
        left = await conn.fetchval("SELECT count(*) FROM rm_sessions WHERE generation <> 2")
        checkpoints_left = await conn.fetch(
            "SELECT generation FROM projection_checkpoints WHERE name = 'catalog'"
        )
    assert left == 0 and [r["generation"] for r in checkpoints_left] == [2]
    assert await answered(fresh_pool, ORG, "crashy") == before


class Batches(Recording):
    """Remembers each batch it was given, as a list of positions."""

    name = "batches"

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        self.batches.append([e.position for e in events])


async def leading_batches(projector: Projector) -> asyncio.Task[None]:
    """The projector running, once it leads (its one projection, `batches`: it reads at once)."""
    run = asyncio.create_task(projector.run())
    for _ in range(100):
        if projector.leading:
            return run
        await asyncio.sleep(0.05)
    run.cancel()
    raise AssertionError(f"the projector leads {projector.leading}, not batches")


async def test_commits_close_behind_each_other_are_applied_in_one_round(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    """A woken runner lingers (runner.LINGER_S) before it reads: the commits that come in that
    moment go in its batch, rather than one round of statements each."""

    def connect() -> asyncpg.Connection:
        return asyncpg.connect(fresh_database_url)  # type: ignore[return-value]

    batches = Batches()
    projector = Projector(fresh_pool, store, [batches], connect, lead_retry_s=0.05, linger_s=1.0)
    run = await leading_batches(projector)
    try:
        for n in range(5):  # five commits, each with its notification, well inside the linger
            await store.append(
                [StreamAppend(f"participant-acme:e:p{n}", NO_STREAM, [registered("x")])]
            )
        async with fresh_pool.acquire() as conn:
            for _ in range(100):
                if (await checkpoints.live(conn, "batches")).position >= 5:
                    break
                await asyncio.sleep(0.05)
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    assert batches.batches == [[1, 2, 3, 4, 5]]


async def test_a_busy_log_is_read_in_longer_rounds_and_a_quiet_one_soon(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    """After a round that read `busy_round` events or more the runner lingers `busy_linger_s`
    (runner.BUSY_LINGER_S: under load, fewer and larger rounds); after a smaller round, only
    `linger_s` (a quiet log is read soon, and a read with `?after=` waits little)."""

    def connect() -> asyncpg.Connection:
        return asyncpg.connect(fresh_database_url)  # type: ignore[return-value]

    async def applied(position: int) -> float:
        """Seconds until the runner's checkpoint reaches `position`."""
        start = loop.time()
        async with fresh_pool.acquire() as conn:
            for _ in range(200):
                if (await checkpoints.live(conn, "batches")).position >= position:
                    return loop.time() - start
                await asyncio.sleep(0.02)
        raise AssertionError(f"position {position} not applied")

    async def commit(participant: str, events: int = 1) -> None:
        await store.append(
            [
                StreamAppend(
                    f"participant-acme:e:{participant}", NO_STREAM, [registered("x")] * events
                )
            ]
        )

    loop = asyncio.get_running_loop()
    batches = Batches()
    projector = Projector(
        fresh_pool,
        store,
        [batches],
        connect,
        lead_retry_s=0.05,
        poll_interval_s=1.0,  # shorter than the busy linger: it bounds the wait, not the linger
        linger_s=0.0,
        busy_linger_s=2.0,
        busy_round=3,
    )
    run = await leading_batches(projector)
    try:
        await commit("p0", events=3)  # a round of three: busy
        await applied(3)
        for n in range(1, 6):  # five commits inside the busy linger: one round
            await commit(f"p{n}")
        await applied(8)
        await commit("p6")  # read after the busy linger, in a round of one: quiet
        after_busy = await applied(9)
        await commit("p7")  # read after the short linger
        after_quiet = await applied(10)
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    assert batches.batches == [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10]]
    assert after_busy >= 1.5
    assert after_quiet < 1.0


class Written:
    """A projection that writes each position it applies into a table keyed by (name,
    position): unlike Recording's memory, a rolled-back batch leaves nothing, and a position
    applied twice breaks the key. `broken` makes its batches fail."""

    tables: tuple[str, ...] = ()

    def __init__(self, name: str, broken: bool = False) -> None:
        self.name = name
        self.broken = broken

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None:
        await conn.executemany(
            "INSERT INTO applied (name, position) VALUES ($1, $2)",
            [(self.name, e.position) for e in events],
        )
        if self.broken:
            raise RuntimeError(f"{self.name} cannot apply this batch")


class CountingReads(PostgresEventStore):
    reads = 0

    async def read_all(self, from_position: int = 1, limit: int = 1000) -> list[RecordedEvent]:
        self.reads += 1
        return await super().read_all(from_position, limit)


async def written_over(pool: asyncpg.Pool, store: PostgresEventStore, people: int) -> None:
    """The `applied` table (a test's own, not a migration's) and a log of `people` events."""
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE applied (name text, position bigint, PRIMARY KEY (name, position))"
        )
    await recording_of(pool, store, people)


async def applied(pool: asyncpg.Pool, name: str) -> list[int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT position FROM applied WHERE name = $1 ORDER BY 1", name)
        reached = await checkpoints.live(conn, name)
    assert reached.position == (rows[-1]["position"] if rows else 0)  # moved with its rows
    return [row["position"] for row in rows]


async def test_one_round_reads_the_log_once_for_projections_at_different_positions(
    fresh_pool: asyncpg.Pool,
) -> None:
    store = CountingReads(fresh_pool, EventCodec(ALL_EVENTS))
    await written_over(fresh_pool, store, 6)
    ahead, behind = Written("ahead"), Written("behind")
    async with fresh_pool.acquire() as conn:
        for projection in (ahead, behind):
            await checkpoints.ensure(conn, projection.name)
    assert await apply_next(fresh_pool, store, ahead, batch_size=4) == (4, (1, 4))
    store.reads = 0
    done = await apply_round(fresh_pool, store, [ahead, behind], {}, batch_size=10)
    assert store.reads == 1
    assert done.read == 6  # from the one furthest behind
    assert done.applied == {"ahead": 2, "behind": 6}
    assert done.marks == {"ahead": (1, 6), "behind": (1, 6)}
    assert await applied(fresh_pool, "ahead") == [1, 2, 3, 4, 5, 6]
    assert await applied(fresh_pool, "behind") == [1, 2, 3, 4, 5, 6]
    again = await apply_round(fresh_pool, store, [ahead, behind], done.marks, batch_size=10)
    assert (again.read, again.applied, again.marks) == (0, {}, done.marks)
    reads = store.reads
    assert await apply_round(fresh_pool, store, [], {}) == (0, {}, {})  # nothing led: no read
    assert store.reads == reads


async def test_a_stale_mark_in_a_round_holds_up_only_its_own_projection(
    fresh_pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await written_over(fresh_pool, store, 5)
    stale, fresh = Written("stale"), Written("fresh")
    async with fresh_pool.acquire() as conn:
        for projection in (stale, fresh):
            await checkpoints.ensure(conn, projection.name)
    _, mark = await apply_next(fresh_pool, store, stale, batch_size=2)
    await apply_next(fresh_pool, store, stale, batch_size=1)  # another runner moves it on
    done = await apply_round(
        fresh_pool, store, [stale, fresh], {"stale": mark, "fresh": None}, batch_size=10
    )
    assert done.applied == {"fresh": 5}
    assert done.marks == {"stale": None, "fresh": (1, 5)}
    assert await applied(fresh_pool, "stale") == [1, 2, 3]
    done = await apply_round(fresh_pool, store, [stale, fresh], done.marks, batch_size=10)
    assert done.applied == {"stale": 2, "fresh": 0}
    assert await applied(fresh_pool, "stale") == [1, 2, 3, 4, 5]


async def reached(pool: asyncpg.Pool, names: list[str], head: int) -> None:
    for _ in range(200):
        async with pool.acquire() as conn:
            if min((await checkpoints.positions(conn, names)).values()) >= head:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{names} did not reach {head}")


async def append_registrations(store: PostgresEventStore, numbers: range) -> None:
    for n in numbers:
        await store.append([StreamAppend(f"participant-acme:e:p{n}", NO_STREAM, [registered("x")])])


@contextlib.asynccontextmanager
async def running(projector: Projector) -> AsyncIterator[None]:
    run = asyncio.create_task(projector.run())
    try:
        yield
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run


async def one_broken_of_three(
    pool: asyncpg.Pool, database_url: str, store: PostgresEventStore, poll_interval_s: float
) -> tuple[Projector, tuple[Written, Written, Written]]:
    """A projector of three Written projections, the middle one broken, over 30 events."""
    await written_over(pool, store, 30)
    three = Written("first"), Written("broken", broken=True), Written("last")

    def connect() -> asyncpg.Connection:
        return asyncpg.connect(database_url)  # type: ignore[return-value]

    projector = Projector(
        pool, store, three, connect,
        batch_size=7, poll_interval_s=poll_interval_s, lead_retry_s=0.05,
    )  # fmt: skip
    return projector, three


async def test_a_failing_projection_holds_up_none_of_the_others(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    """Its failure rolls back the joint round (the healthy ones' rows too); the runner then runs
    them one by one at once: the healthy ones go on, without waiting out the retry interval
    (a minute here) that the broken one waits."""
    projector, (first, _, last) = await one_broken_of_three(
        fresh_pool, fresh_database_url, store, poll_interval_s=60
    )
    async with running(projector):
        await reached(fresh_pool, ["first", "last"], 30)
        await append_registrations(store, range(30, 40))  # and they keep following the log
        await reached(fresh_pool, ["first", "last"], 40)
    assert await applied(fresh_pool, "broken") == []
    for projection in (first, last):
        assert await applied(fresh_pool, projection.name) == list(range(1, 41))


async def test_a_failing_projection_is_tried_again_and_catches_up_once_mended(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, store: PostgresEventStore
) -> None:
    """Each position applied once, through the failed joint rounds, the rounds apart and the
    broken one's return (the table's key would refuse a second)."""
    projector, (first, broken, last) = await one_broken_of_three(
        fresh_pool, fresh_database_url, store, poll_interval_s=0.05
    )
    async with running(projector):
        await reached(fresh_pool, ["first", "last"], 30)
        await asyncio.sleep(0.3)  # several tries of the broken one, every poll interval
        assert await applied(fresh_pool, "broken") == []
        broken.broken = False
        await reached(fresh_pool, ["broken"], 30)
        await append_registrations(store, range(30, 40))  # all three together again
        await reached(fresh_pool, ["first", "broken", "last"], 40)
    for projection in (first, broken, last):
        assert await applied(fresh_pool, projection.name) == list(range(1, 41))
