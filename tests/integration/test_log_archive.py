"""`registry log archive` (issue 10, item 3): a scripted day in partitions of 10 positions, the
chain run and sealed, the read models caught up; whole partitions below a position go to files
in the export format and leave the database; then `registry verify` still holds (reading the
files), the first file imports into a new database and verifies, the service's reads say which
range is archived, a rebuild from the files gives the same read models, appends go on, and the
log keeps every rule. Refusals: no whole partition below the position, a chain not reached or
not sealed, projections behind, a chain that does not verify, a file that was changed, and the
database's own checks when called directly."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from projections import PROJECTIONS
from projections.rebuild import rebuild
from registry import dbroles
from registry.archive.archiver import ArchiveRefused, archive_before
from registry.archive.files import ArchiveUnreadable
from registry.archive.partitions import ensure_partitions, list_partitions
from registry.archive.records import load_archives
from registry.archive.store import ArchiveReadingStore
from registry.audit.chain_check import verify_chain
from registry.audit.chainer import SealPolicy, chain_batch, load_state
from registry.audit.import_log import import_log
from registry.audit.log_file import open_for_reading
from registry.audit.log_reads import log_page
from registry.audit.replay import Replay
from registry.capacity.memory import MemoryGate
from registry.domain.events import ALL_EVENTS, EmailClaimed
from registry.domain.streams import event_stream, participant_stream_prefix
from registry.eventstore import NO_STREAM, ArchivedHistory, EventCodec, RecordedEvent, StreamAppend
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.gate_sync import GateKeeper
from tests.support.cli import run_cli_async as run_cli
from tests.support.invariants import log_keeps_every_rule
from tests.support.programme import ORG, set_up
from tests.support.read_models import answered, catch_up
from tests.support.scripted_day import DAY, sign_up
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name

SIZE = 10
CODEC = EventCodec(ALL_EVENTS)


@dataclass
class Day:
    """Two events' days in one log: `first` ends at `boundary`, the end of a partition (padded
    with one-event streams), and `second` comes after it."""

    url: str
    pool: asyncpg.Pool
    store: PostgresEventStore
    first: str
    second: str
    boundary: int

    async def chain(self, *, seal: bool = True) -> None:
        async with self.pool.acquire() as conn:
            state = await load_state(conn)
            seals = SealPolicy(every=5 if seal else 10**9, interval_s=1e9)
            while await chain_batch(conn, state, batch_size=7, seals=seals):
                pass

    async def archive(self, before: int, to: Path, *, continuing: bool = False) -> list[str]:
        conn = await asyncpg.connect(self.url)
        try:
            done = await archive_before(conn, before, to, continuing_streams=continuing)
        finally:
            await conn.close()
        return [d.partition for d in done]


async def play(store: PostgresEventStore) -> str:
    keeper = GateKeeper(store, MemoryGate())
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    await set_up(keeper, event_id)
    for step in DAY:
        await step(keeper, event_id)
    return event_id


async def played(url: str, pool: asyncpg.Pool) -> Day:
    """The scripted day twice, in partitions of SIZE positions (made before the first append)."""
    conn = await asyncpg.connect(url)
    try:
        assert await ensure_partitions(conn, ahead=12, size=SIZE) == [
            f"events_{n}_{n + SIZE - 1}" for n in range(1, 12 * SIZE, SIZE)
        ]
    finally:
        await conn.close()
    store = PostgresEventStore(pool, CODEC)
    first = await play(store)
    while (head := await store.head()) % SIZE:  # e-mail claims: streams of one event each
        claim = EmailClaimed(participant_id=f"pad-{head}")
        await store.append([StreamAppend(f"email-{ORG}:pad:{head}", NO_STREAM, [claim])])
    second = await play(store)
    assert 2 * SIZE < head < await store.head() < 12 * SIZE
    return Day(url, pool, store, first, second, head)


@pytest.fixture
async def day(fresh_database_url: str) -> AsyncIterator[Day]:
    # The service's own role, as the API and the projector read and append.
    pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=6)
    try:
        yield await played(fresh_database_url, pool)
    finally:
        await pool.close()


@pytest.fixture
async def target_url(servers: ServerUrls, template_database: str) -> AsyncIterator[str]:
    name = unique_name("registry_test_archive_import")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


async def test_archived_partitions_leave_the_database_and_history_still_verifies_and_rebuilds(
    day: Day, target_url: str, tmp_path: Path
) -> None:
    await day.chain()
    await catch_up(day.pool, day.store)
    before = [await answered(day.pool, ORG, e) for e in (day.first, day.second)]
    whole = [e.position for e in await ArchiveReadingStore(day.pool, CODEC).read_all(1, 1000)]
    edge = day.boundary

    # Up to a position inside the partition after the first day: only whole partitions go.
    archived = await run_cli(
        "log", "archive", "--before", str(edge + 5), "--to", str(tmp_path), url=day.url
    )
    assert archived.returncode == 0, archived.stderr
    assert "archived events_1_10: positions 1-10" in archived.stdout
    assert f"archived events_{edge - 9}_{edge}: positions {edge - 9}-{edge}" in archived.stdout
    names = sorted(os.listdir(tmp_path))
    assert len(names) == edge // SIZE
    assert names[0] == "events-000000000001-000000000010.jsonl.gz"
    async with day.pool.acquire() as conn:
        archives = await load_archives(conn)
        partitions = [p.name for p in await list_partitions(conn)]
        assert await conn.fetchval("SELECT min(position) FROM events") == edge + 1
        assert await conn.fetchval("SELECT min(position) FROM event_hashes") == edge + 1
    assert [(a.first_position, a.last_position, a.events) for a in archives] == [
        (n, n + SIZE - 1, SIZE) for n in range(1, edge, SIZE)
    ]
    assert "events_1_10" not in partitions and f"events_{edge + 1}_{edge + 10}" in partitions

    # verify reads the files: every check holds, and it says what was archived.
    verified = await run_cli("verify", url=day.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"positions 1-{edge} archived in {len(names)} file(s)" in verified.stdout

    # The service's reads name the range instead of skipping it; the first day takes no more
    # commands (its streams began in the archive), the second goes on.
    with pytest.raises(ArchivedHistory, match=r"positions 1-10 .* events-000000000001-"):
        await day.store.read_all(1, 100)
    with pytest.raises(ArchivedHistory, match="begins there"):
        await day.store.read_stream(event_stream(ORG, day.first))
    with pytest.raises(ArchivedHistory, match="begins there"):
        await day.store.stream_types(event_stream(ORG, day.first))
    # The gate's rebuild reads streamed: it names the archive where read_streams does.
    prefix = participant_stream_prefix(ORG, day.first)
    assert await _outcome(day.store.read_streams(prefix)) == await _outcome(
        _listed(day.store.iter_streams(prefix))
    )
    keeper = GateKeeper(day.store, MemoryGate())
    with pytest.raises(ArchivedHistory):
        await sign_up("p1", "o")(keeper, day.first)
    await sign_up("p1", "o")(keeper, day.second)
    # ?as_of= and the auditors' log pages would skip the archived positions: they say so too.
    with pytest.raises(ArchivedHistory, match="positions 1-10"):
        await Replay(day.pool, CODEC, every=0).state(ORG, day.first, edge)
    async with day.pool.acquire() as conn:
        with pytest.raises(ArchivedHistory, match="positions 1-10"):
            await log_page(conn, ORG, 1, 50)
        later = await log_page(conn, ORG, edge + 1, 50)
        assert later.items and later.items[0]["position"] > edge
    assert [e.position for e in await day.store.read_all(edge + 1, 1000)][: len(whole) - edge] == (
        whole[edge:]
    )
    # Read from the files, the log is whole again.
    reader = ArchiveReadingStore(day.pool, CODEC)
    assert [e.position for e in await reader.read_all(1, 1000)][: len(whole)] == whole
    assert [e.position for e in await reader.read_all(8, 5)] == whole[7:12]

    # A rebuild from position 1: from the files, the same read models; without them, refused.
    await catch_up(day.pool, day.store)
    before[1] = await answered(day.pool, ORG, day.second)
    for projection in PROJECTIONS:
        await rebuild(day.pool, reader, projection, batch_size=7)
    assert [await answered(day.pool, ORG, e) for e in (day.first, day.second)] == before
    with pytest.raises(ArchivedHistory, match="positions 1-10"):
        await rebuild(day.pool, day.store, PROJECTIONS[0])
    moved = tmp_path / "moved"
    moved.mkdir()
    with pytest.raises(ArchiveUnreadable, match="no file at"):
        await ArchiveReadingStore(day.pool, CODEC, directory=moved).read_all(1, 10)

    # The first file is an export of the log's beginning: it imports and verifies.
    conn = await asyncpg.connect(target_url)
    try:
        with open_for_reading(tmp_path / names[0]) as lines:
            imported = await import_log(conn, lines)
        assert (imported.events, imported.last_position, imported.hashed_here) == (10, 10, 0)
        assert await verify_chain(conn) == []
    finally:
        await conn.close()

    # The chain goes on from the archived head; every rule holds, the archive read from files.
    await day.chain()
    await log_keeps_every_rule(day.pool)


async def test_the_chain_restarts_from_the_archived_head_when_every_hash_left(
    day: Day, tmp_path: Path
) -> None:
    # Only the first day chained and sealed: its archive takes every hash there is.
    async with day.pool.acquire() as conn:
        state = await load_state(conn)
        await chain_batch(conn, state, batch_size=day.boundary, seals=SealPolicy(every=1))
    await catch_up(day.pool, day.store)
    assert len(await day.archive(day.boundary + 1, tmp_path)) == day.boundary // SIZE
    async with day.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM event_hashes") == 0
        state = await load_state(conn)
        assert state.position == day.boundary
    await day.chain()
    await log_keeps_every_rule(day.pool)


async def test_archive_refuses_what_is_not_whole_final_sealed_and_passed(
    day: Day, tmp_path: Path
) -> None:
    with pytest.raises(ArchiveRefused, match="no whole partition lies below position 10"):
        await day.archive(10, tmp_path)
    with pytest.raises(ArchiveRefused, match="not all in the hash chain yet"):
        await day.archive(11, tmp_path)
    await day.chain(seal=False)
    with pytest.raises(ArchiveRefused, match="no seal covers its last event, position 10"):
        await day.archive(11, tmp_path)
    await day.chain()  # a seal at the head now
    with pytest.raises(ArchiveRefused, match="projections have not passed it yet"):
        await day.archive(11, tmp_path)
    await catch_up(day.pool, day.store)

    # The database checks the claims itself: only registry_maintenance may call it, and only
    # with the partition's real count, head and hashes, for the oldest partition.
    owner = await asyncpg.connect(day.url)
    try:
        arguments = ("events_1_10", 9, 9, bytes(32), bytes(32), "x.gz", "/tmp", bytes(32), 1)
        call = "SELECT archive_event_partition($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        async with owner.transaction():
            await owner.execute("SET LOCAL ROLE registry_app")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await owner.execute(call, *arguments)
        for name, what in (("events_1_10", "does not match"), ("events_11_20", "not the oldest")):
            async with owner.transaction():
                await owner.execute("SET LOCAL ROLE registry_maintenance")
                with pytest.raises(asyncpg.PostgresError, match=what) as refused:
                    await owner.execute(call, name, *arguments[1:])
            assert refused.value.sqlstate == "RG060"
    finally:
        await owner.close()

    # Past the first day: the second day's streams go on after its first partition.
    with pytest.raises(ArchiveRefused, match=r"stream\(s\) with events in it go on after position"):
        await day.archive(day.boundary + SIZE + 1, tmp_path)
    async with day.pool.acquire() as conn:  # the whole partitions before it went
        assert [a.last_position for a in await load_archives(conn)][-1] == day.boundary
    allowed = await day.archive(day.boundary + SIZE + 1, tmp_path, continuing=True)
    assert allowed == [f"events_{day.boundary + 1}_{day.boundary + SIZE}"]
    await log_keeps_every_rule(day.pool)


async def test_a_chain_that_does_not_verify_is_not_archived(day: Day, tmp_path: Path) -> None:
    await day.chain()
    await catch_up(day.pool, day.store)
    owner = await asyncpg.connect(day.url)
    try:  # a rewritten event (as the maintenance role may): the chain breaks there
        async with owner.transaction():
            await owner.execute("SET LOCAL ROLE registry_maintenance")
            await owner.execute("UPDATE events SET metadata = '{}' WHERE position = 7")
        with pytest.raises(ArchiveRefused, match="does not verify at position 7"):
            await day.archive(11, tmp_path, continuing=True)
        assert os.listdir(tmp_path) == []  # no file left behind
        assert "events_1_10" in [p.name for p in await list_partitions(owner)]
    finally:
        await owner.close()


async def test_verify_fails_on_a_changed_or_missing_archive_file(day: Day, tmp_path: Path) -> None:
    await day.chain()
    await catch_up(day.pool, day.store)
    assert len(await day.archive(day.boundary + 1, tmp_path)) == day.boundary // SIZE
    second = tmp_path / "events-000000000011-000000000020.jsonl.gz"
    second.write_bytes(second.read_bytes()[:-20])
    checked = await run_cli("verify", url=day.url)
    assert checked.returncode == 1
    assert "first bad position: 11 (chain: archive positions 11-20" in checked.stdout
    second.unlink()
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "events-000000000001-000000000010.jsonl.gz").rename(moved / "a")
    checked = await run_cli("verify", "--archives", str(moved), url=day.url)
    assert checked.returncode == 1
    assert "first bad position: 1 (chain: archive positions 1-10" in checked.stdout
    rebuilt = await run_cli("projections", "rebuild", "--all", url=day.url)
    assert rebuilt.returncode == 1
    assert "no file at" in rebuilt.stderr


async def _listed(events: AsyncIterator[RecordedEvent]) -> list[RecordedEvent]:
    return [e async for e in events]


async def _outcome(reading: Awaitable[list[RecordedEvent]]) -> object:
    """The events read, or the archived range named instead."""
    try:
        return [e.position for e in await reading]
    except ArchivedHistory as archived:
        return str(archived)
