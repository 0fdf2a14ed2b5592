"""`registry export` and `registry import`: a scripted log (a programme, sign-ups through the
handlers, a gap, a chain with seals and an unhashed tail) exported and imported into a new
database is the same log: events, positions, hashes, seals, streams, the rows beside it, and the
read models the projector builds from it. Imports of unfit files or into used databases are
refused and write nothing."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from registry.archive.files import logged
from registry.audit import log_file
from registry.audit.chain import GENESIS, link
from registry.audit.chain_check import verify_chain
from registry.audit.chainer import SealPolicy, chain_batch, load_state
from registry.audit.export import export_log
from registry.audit.import_log import ImportRefused, import_log
from registry.audit.log_file import BESIDE, open_for_reading, open_for_writing
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.errors import DomainError
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import registration
from registry.handlers.gate_sync import GateKeeper
from tests.support.cli import run_cli_async as run_cli
from tests.support.programme import ORG, PEOPLE, SESSIONS, ctx, set_up
from tests.support.read_models import answered, catch_up
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name

DAY = "day"
EVENTS = """
SELECT position, event_id, stream_id, stream_version, type, schema_version, data::text,
       metadata::text, recorded_at
  FROM events ORDER BY position
"""
TABLES = {
    "events": EVENTS,
    "event_hashes": "SELECT * FROM event_hashes ORDER BY position",
    "log_seals": "SELECT * FROM log_seals ORDER BY position",
    "streams": "SELECT * FROM streams ORDER BY stream_id",
}


@pytest.fixture
async def target_url(servers: ServerUrls, template_database: str) -> AsyncIterator[str]:
    """A second new database to import into."""
    name = unique_name("registry_test_import")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


async def sign_ups(keeper: GateKeeper, pairs: list[tuple[str, str]]) -> None:
    for who, session in pairs:
        with contextlib.suppress(DomainError):  # a refusal writes nothing
            await registration.sign_up(keeper, ctx(), DAY, who, cmd.SignUp(session_id=session))


async def scripted_log(url: str) -> None:
    """A programme and sign-ups, a position lost to a rolled-back append, the chain run with
    seals, then more sign-ups the chainer has not reached (hashed by the import)."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        keeper = GateKeeper(PostgresEventStore(pool, EventCodec(ALL_EVENTS)), MemoryGate())
        await set_up(keeper, DAY)
        await sign_ups(keeper, [(who, s) for who in PEOPLE[:4] for s in sorted(SESSIONS)])
        await pool.execute("SELECT nextval('events_position_seq')")  # as a rolled-back append
        await sign_ups(keeper, [(PEOPLE[4], "a"), (PEOPLE[5], "a")])
        async with pool.acquire() as conn:
            state = await load_state(conn)
            while await chain_batch(conn, state, batch_size=7, seals=SealPolicy(every=7)):
                pass
        await sign_ups(keeper, [(PEOPLE[4], "o"), (PEOPLE[5], "c")])
        await registration.cancel_sign_up(keeper, ctx(), DAY, PEOPLE[0], "a")
    finally:
        await pool.close()


async def export_to(
    url: str, path: Path, *, compress: bool = False, personal_data: bool = False
) -> None:
    conn = await asyncpg.connect(url)
    try:
        with open_for_writing(path, compress=compress) as out:
            await export_log(conn, out, personal_data=personal_data)
    finally:
        await conn.close()


async def import_from(url: str, path: Path) -> Any:
    conn = await asyncpg.connect(url)
    try:
        with open_for_reading(path) as lines:
            return await import_log(conn, lines)
    finally:
        await conn.close()


async def contents(url: str) -> dict[str, Any]:
    """Every table an import fills, and the read models of the day once the projector caught up."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        store = PostgresEventStore(pool, EventCodec(ALL_EVENTS))
        found: dict[str, Any] = {t: await pool.fetch(q) for t, q in TABLES.items()}
        for table in BESIDE:
            if await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                found[table] = sorted(map(tuple, await pool.fetch(f"SELECT * FROM {table}")))
        found["read_all"] = [e.position for e in await store.read_all(1, 10_000)]
        await catch_up(pool, store)
        found["read models"] = await answered(pool, ORG, DAY)
        async with pool.acquire() as conn:
            found["verify"] = await verify_chain(conn)
        return found
    finally:
        await pool.close()


async def chain_rest(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        state = await load_state(conn)
        while await chain_batch(conn, state, seals=SealPolicy(every=10**9)):
            pass
    finally:
        await conn.close()


async def test_an_export_imports_as_the_same_log(
    fresh_database_url: str, target_url: str, tmp_path: Path
) -> None:
    await scripted_log(fresh_database_url)
    path = tmp_path / "log.jsonl.gz"
    await export_to(fresh_database_url, path, compress=True, personal_data=True)
    done = await import_from(target_url, path)
    assert done.hashed_here > 0 and done.seals >= 2

    await chain_rest(fresh_database_url)  # the source's chainer reaches what the import hashed
    source, target = await contents(fresh_database_url), await contents(target_url)
    assert source.keys() == target.keys()
    for key in source:
        assert source[key] == target[key], key
    assert target["verify"] == []
    positions = [row["position"] for row in target["events"]]
    assert len(positions) < positions[-1]  # the gap is kept
    assert target["read models"]["attendees"]["a"]  # the day is not empty
    conn = await asyncpg.connect(target_url)
    try:
        assert await conn.fetchval("SELECT last_value FROM events_position_seq") == positions[-1]
        # Nothing announced: the notifying facts imported are marked fanned out.
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE fanned_out_at IS NULL") == 0
    finally:
        await conn.close()


async def test_an_export_holds_no_personal_data_unless_asked(
    fresh_database_url: str, tmp_path: Path
) -> None:
    await scripted_log(fresh_database_url)
    plain, full = tmp_path / "plain.jsonl", tmp_path / "full.jsonl"
    await export_to(fresh_database_url, plain)
    await export_to(fresh_database_url, full, personal_data=True)
    for name in ("Name p0", "p0@example.org", "participant_details", "organisation_secrets"):
        assert name not in plain.read_text(), name
        assert name in full.read_text(), name


async def test_the_commands_export_and_import_it(
    fresh_database_url: str, target_url: str, tmp_path: Path
) -> None:
    """As a user runs them: subprocesses configured by REGISTRY_DATABASE_URL."""
    await scripted_log(fresh_database_url)
    path = tmp_path / "log.gz"
    exported = await run_cli("export", "--out", str(path), "--gzip", url=fresh_database_url)
    assert exported.returncode == 0, exported.stderr
    assert "exported" in exported.stdout
    with gzip.open(path, "rt") as file:
        assert file.readline().startswith('{"kind":"header","format":"registry-log","version":1')
    imported = await run_cli("import", str(path), url=target_url)
    assert imported.returncode == 0, imported.stderr
    assert "imported" in imported.stdout
    again = await run_cli("import", str(path), url=target_url)
    assert again.returncode == 1
    assert "import refused: the database is not empty (events has rows)" in again.stderr


async def test_a_tampered_file_is_refused_at_its_first_bad_position(
    fresh_database_url: str, target_url: str, tmp_path: Path
) -> None:
    await scripted_log(fresh_database_url)
    path = tmp_path / "log.jsonl"
    await export_to(fresh_database_url, path)
    lines = path.read_bytes().splitlines(keepends=True)
    tampered = next(
        i for i, line in enumerate(lines) if b'"ticket":' in line and b'"hash":"' in line
    )
    changed = lines[tampered].replace(b'"ticket": ', b'"ticket": 9', 1)
    position = int(changed.split(b'"position":')[1].split(b",")[0])
    (tmp_path / "changed.jsonl").write_bytes(
        b"".join([*lines[:tampered], changed, *lines[tampered + 1 :]])
    )
    with pytest.raises(ImportRefused, match=f"first bad position: {position}: data changed"):
        await import_from(target_url, tmp_path / "changed.jsonl")
    (tmp_path / "cut.jsonl").write_bytes(b"".join(lines[:-1]))
    with pytest.raises(ImportRefused, match="truncated"):
        await import_from(target_url, tmp_path / "cut.jsonl")
    conn = await asyncpg.connect(target_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0  # nothing was written
    finally:
        await conn.close()


async def test_a_file_whose_chain_was_recomputed_over_a_repeated_version_is_refused(
    fresh_database_url: str, target_url: str, tmp_path: Path
) -> None:
    """The chain cannot tell a forger who hashed everything again; each stream's numbering can
    (the partitioned log has no unique index on stream and version, migrations/0065)."""
    await scripted_log(fresh_database_url)
    path = tmp_path / "log.jsonl"
    await export_to(fresh_database_url, path)
    lines = [log_file.decoder.decode(raw) for raw in path.read_bytes().splitlines()]
    events = [line for line in lines if isinstance(line, log_file.EventLine)]
    seen: dict[str, int] = {}
    repeated = None
    previous, before = GENESIS, 0
    for line in events:
        if repeated is None and line.stream_id in seen:  # its second event: version 1 again
            repeated = line.position
            line.stream_version = seen[line.stream_id]
        seen.setdefault(line.stream_id, line.stream_version)
        previous = link(previous, logged(line))
        line.hash, line.prev_position, before = previous.hex(), before, line.position
    assert repeated is not None
    kept = [line for line in lines if not isinstance(line, log_file.SealLine)]
    for line in kept:
        if isinstance(line, log_file.Header | log_file.End):
            line.seals = 0
    (tmp_path / "forged.jsonl").write_bytes(
        b"".join(log_file.encoder.encode(x) + b"\n" for x in kept)
    )
    with pytest.raises(
        ImportRefused, match=f"first bad position: {repeated}: stream .* at version"
    ):
        await import_from(target_url, tmp_path / "forged.jsonl")


async def test_import_refuses_a_database_that_is_not_empty(
    fresh_database_url: str, tmp_path: Path
) -> None:
    await scripted_log(fresh_database_url)
    path = tmp_path / "log.jsonl"
    await export_to(fresh_database_url, path)
    with pytest.raises(ImportRefused, match="not empty"):
        await import_from(fresh_database_url, path)
