"""The log partitioned by position range (migrations 0060-0066): a database with data, migrated
up to before the partitioning and then through it, keeps every row, stream, hash and outbox
entry, and goes on appending and reading; the append-only rules hold on the table and on every
partition (for the owner as itself, and for the service, which cannot write a partition
directly); partitions are made ahead, and appends that run past them land in the DEFAULT
partition, which the next call turns into a range partition with its triggers. The log then
keeps every rule."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from registry import dbroles
from registry.archive.partitions import ensure_partitions, list_partitions
from registry.audit.chain import LoggedEvent, chain
from registry.audit.chain_check import READ_EVENTS, verify_chain
from registry.audit.chainer import SealPolicy, chain_batch, load_state
from registry.capacity.memory import MemoryGate
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.batcher import MAX_COMMANDS
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.gate_sync import GateKeeper
from registry.migrations import apply_migrations, load_migrations, migrations_dir
from tests.support.cli import run_cli_async as run_cli
from tests.support.invariants import log_keeps_every_rule
from tests.support.programme import set_up
from tests.support.read_models import catch_up
from tests.support.scripted_day import DAY, sign_up
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name

#: The first migration of the partitioned log.
PARTITIONED = "0060"
CODEC = EventCodec(ALL_EVENTS)
SNAPSHOT = {
    "events": "SELECT * FROM events ORDER BY position",
    "streams": "SELECT * FROM streams ORDER BY stream_id",
    "event_hashes": "SELECT * FROM event_hashes ORDER BY position",
    "outbox": "SELECT id, position, type, data FROM outbox ORDER BY id",
    "commands": "SELECT command_id, positions FROM commands ORDER BY command_id",
}
REWRITES = ("UPDATE {t} SET type = type", "DELETE FROM {t}", "TRUNCATE {t}")


@pytest.fixture
async def empty_url(servers: ServerUrls) -> AsyncIterator[str]:
    name = unique_name("registry_test_partitioning")
    url = await create_database(servers.database_url, name)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[Any]]:
    return {table: list(map(tuple, await conn.fetch(query))) for table, query in SNAPSHOT.items()}


async def play_day(pool: asyncpg.Pool, event_id: str, append_batch: int = MAX_COMMANDS) -> None:
    keeper = GateKeeper(PostgresEventStore(pool, CODEC, append_batch=append_batch), MemoryGate())
    await set_up(keeper, event_id)
    for step in DAY:
        await step(keeper, event_id)


async def chain_all(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        state = await load_state(conn)
        while await chain_batch(conn, state, batch_size=9, seals=SealPolicy(every=9)):
            pass


async def hash_all_but_the_last(conn: asyncpg.Connection) -> None:
    """The chain as the chainer of that time left it (whose query this code no longer has)."""
    rows = await conn.fetch(READ_EVENTS + " ORDER BY position")
    links = list(chain(LoggedEvent._make(r) for r in rows[:-1]))
    await conn.executemany("INSERT INTO event_hashes VALUES ($1, $2, $3)", links)
    await conn.execute("INSERT INTO log_seals (position, hash) VALUES ($1, $2)", *links[-1][:2])


async def test_a_log_with_data_is_migrated_into_partitions_and_goes_on(
    empty_url: str, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for migration in load_migrations():
        if migration.name < PARTITIONED:
            shutil.copy(migrations_dir() / migration.name, before / migration.name)
    await apply_migrations(empty_url, before)
    pool = await dbroles.create_pool(empty_url, min_size=1, max_size=4)
    owner = await asyncpg.connect(empty_url)
    try:
        # A capacity change and a merge: the outbox has rows. Every append alone: this code's
        # batches carry registrations' details, which append_batch takes from 0069 on only.
        await play_day(pool, "old", append_batch=0)
        await hash_all_but_the_last(owner)
        assert (
            await owner.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'events'")
            == "r"
        )
        kept = await snapshot(owner)
        assert kept["outbox"] and kept["event_hashes"]
        head = await owner.fetchval("SELECT max(position) FROM events")

        applied = await apply_migrations(empty_url)
        assert applied[0].startswith(PARTITIONED) and applied[-1] == load_migrations()[-1].name
        # The pool's connections saw the old table; they go on with the new one.
        assert (
            await owner.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'events'")
            == "p"
        )
        assert await snapshot(owner) == kept
        partitions = await list_partitions(owner)
        assert [(p.name, p.first_position, p.end_position) for p in partitions] == [
            ("events_1_1000000", 1, 1_000_001),
            ("events_default", None, None),
        ]

        # Appends go on after the last position, the outbox trigger with them; reads too.
        await play_day(pool, "new")
        await sign_up("p4", "o")(GateKeeper(PostgresEventStore(pool, CODEC), MemoryGate()), "old")
        assert await owner.fetchval(
            "SELECT min(position) FROM events WHERE position > $1", head
        ) == (head + 1)
        assert len((await snapshot(owner))["outbox"]) >= 2 * len(kept["outbox"])
        await chain_all(pool)
        assert await verify_chain(owner) == []
        await catch_up(pool, PostgresEventStore(pool, CODEC))
        await log_keeps_every_rule(pool)
    finally:
        await owner.close()
        await pool.close()


async def test_the_log_and_every_partition_stay_append_only(fresh_database_url: str) -> None:
    owner = await asyncpg.connect(fresh_database_url)
    pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=2)
    try:
        await ensure_partitions(owner, ahead=1, size=100)
        await play_day(pool, "day")
        names = ["events", *(p.name for p in await list_partitions(owner))]
        assert names == ["events", "events_1_100", "events_default"]
        for table in names:
            for rewrite in REWRITES:
                # The owner and superusers acting as themselves: refused by the trigger.
                with pytest.raises(asyncpg.PostgresError) as refused:
                    await owner.execute(rewrite.format(t=table))
                assert refused.value.sqlstate == "RG030", (table, rewrite)
            async with pool.acquire() as conn:
                # The service: no privilege to write the log, through a partition or not.
                for statement in (
                    *REWRITES,
                    "INSERT INTO {t} SELECT * FROM {t} WHERE false",
                ):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(statement.format(t=table))
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") >= 0
        # The maintenance role may (in a transaction rolled back here).
        tr = owner.transaction()
        await tr.start()
        await owner.execute("SET LOCAL ROLE registry_maintenance")
        await owner.execute("DELETE FROM events_1_100 WHERE position = 1")
        await tr.rollback()
        assert await owner.fetchval("SELECT count(*) FROM events WHERE position = 1") == 1
    finally:
        await pool.close()
        await owner.close()


async def test_partitions_are_made_ahead_and_the_default_takes_what_runs_past_them(
    fresh_database_url: str,
) -> None:
    owner = await asyncpg.connect(fresh_database_url)
    pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=2)
    try:
        # A new log: nothing ahead until asked, so that the size can be chosen first.
        assert [p.name for p in await list_partitions(owner)] == ["events_default"]
        assert await ensure_partitions(owner, ahead=2, size=10) == ["events_1_10", "events_11_20"]
        assert await ensure_partitions(owner, ahead=2) == []  # already ahead
        await play_day(pool, "day")  # past 20: the rest in the default partition
        head = await owner.fetchval("SELECT max(position) FROM events")
        assert head > 20
        in_default = await owner.fetchval("SELECT count(*) FROM events_default")
        assert in_default == await owner.fetchval("SELECT count(*) FROM events WHERE position > 20")
        assert in_default > 0

        # The default's rows become a range partition (whole partitions of the size), then more
        # ahead of the head; no row moves and none is lost; the default is empty and guarded.
        made = await ensure_partitions(owner, ahead=1, size=10)
        top = 21 + 10 * ((head - 21) // 10 + 1)
        assert made == [f"events_21_{top - 1}", f"events_{top}_{top + 9}"]
        assert await owner.fetchval("SELECT count(*) FROM events_default") == 0
        assert await owner.fetchval(f"SELECT count(*) FROM events_21_{top - 1}") == in_default
        triggers = await owner.fetch(
            """
            SELECT c.relname, t.tgname, t.tgenabled::text FROM pg_trigger t
              JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relname LIKE 'events%' AND NOT t.tgisinternal
             ORDER BY 1, 2
            """
        )
        by_table: dict[str, set[tuple[str, str]]] = {}
        for row in triggers:
            by_table.setdefault(row["relname"], set()).add((row["tgname"], row["tgenabled"]))
        for name in ("events", "events_1_10", f"events_21_{top - 1}", "events_default"):
            assert by_table[name] == {("events_append_only", "A"), ("events_to_outbox", "O")}

        # Appends go on into the new partitions.
        keeper = GateKeeper(PostgresEventStore(pool, CODEC), MemoryGate())
        await sign_up("p4", "o")(keeper, "day")
        where = "SELECT tableoid::regclass::text FROM events ORDER BY position DESC LIMIT 1"
        assert await owner.fetchval(where) in made
        await chain_all(pool)
        await catch_up(pool, PostgresEventStore(pool, CODEC))
        await log_keeps_every_rule(pool)
    finally:
        await pool.close()
        await owner.close()


async def test_the_command_makes_partitions_ahead_and_lists_them(fresh_database_url: str) -> None:
    made = await run_cli(
        "log", "partitions", "--ahead", "2", "--size", "50", url=fresh_database_url
    )
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[:2] == ["made events_1_50", "made events_51_100"]
    assert [line.split()[0] for line in lines[2:]] == ["events_1_50", "events_51_100",
                                                       "events_default"]  # fmt: skip
    again = await run_cli("log", "partitions", url=fresh_database_url)  # --ahead 2: enough
    assert again.returncode == 0 and "made" not in again.stdout
