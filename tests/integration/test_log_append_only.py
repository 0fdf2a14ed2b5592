"""The log is append-only, enforced by the database (migrations 0030-0034, registry.dbroles):
the service's role reads it and appends through append_events() only; nobody but
registry_maintenance may UPDATE, DELETE or TRUNCATE it, superusers acting as themselves included;
the service's role can use every other table; and a pooled connection keeps the role for good."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from registry import dbroles
from registry.dbtypes import Connection
from registry.eventstore import ANY, StreamAppend
from registry.eventstore.postgres import PostgresEventStore
from registry.migrations import MigrationError, apply_migrations
from tests.support.events import Deposited, test_codec
from tests.support.servers import ServerUrls, drop_database, unique_name, with_database

#: The log's tables: read only for the service (appends go through append_events()).
LOG_TABLES = ("events", "streams", "commands")
#: Tables the service uses only in part (0032), with what it may do.
LIMITED = {
    "schema_migrations": {"SELECT"},  # the runner's, read by readiness
    "gate_epochs": {"SELECT", "INSERT", "UPDATE"},
}
#: Tables the service reads and writes, besides the read models (rm_*). Tables of later
#: migrations get the same by default (0032) unless their migration says otherwise; of those the
#: test asks only that the service can read them.
READ_WRITE = (
    "organisations", "api_keys", "projection_state", "projection_checkpoints", "webhooks",
    "outbox", "webhook_deliveries",
)  # fmt: skip
DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
REFUSED_BY_TRIGGER = "RG030"
REWRITES = ("UPDATE events SET type = type", "DELETE FROM events", "TRUNCATE events")
#: Of the users the tests make (servers that trust local users ignore it).
PASSWORD = "registry-test"


@pytest.fixture
async def app_pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's pool, as the API and the projector open it."""
    pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def superuser(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The tests' own connection, as the URL's user (a superuser, and the tables' owner)."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def logged(app_pool: asyncpg.Pool) -> int:
    """Two events in the log, appended by the service's role; their count."""
    store = PostgresEventStore(app_pool, test_codec())
    await store.append([StreamAppend("account-1", ANY, [Deposited(amount=1)])], command_id="c1")
    await store.append([StreamAppend("account-1", ANY, [Deposited(amount=2)])])
    return 2


async def test_the_service_appends_through_append_events_as_registry_app(
    app_pool: asyncpg.Pool, superuser: asyncpg.Connection, logged: int
) -> None:
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == dbroles.APP_ROLE
        assert await conn.fetchval("SELECT count(*) FROM events") == logged
    assert await superuser.fetchval("SELECT count(*) FROM events") == logged
    assert await superuser.fetchval("SELECT version FROM streams") == logged
    assert await superuser.fetchval("SELECT count(*) FROM commands") == 1


@pytest.mark.parametrize("statement", REWRITES)
async def test_the_service_may_not_rewrite_the_log(
    app_pool: asyncpg.Pool, superuser: asyncpg.Connection, logged: int, statement: str
) -> None:
    async with app_pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute(statement)
    assert await superuser.fetchval("SELECT count(*) FROM events") == logged


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE streams SET version = version + 1",
        "DELETE FROM streams",
        "DELETE FROM commands",
        "UPDATE commands SET answer = NULL",
        "INSERT INTO events SELECT * FROM events",
        "INSERT INTO streams VALUES ('account-2', 1)",
        "SELECT nextval('events_position_seq')",
        "TRUNCATE streams, commands",
    ],
)
async def test_the_service_writes_the_log_only_through_append_events(
    app_pool: asyncpg.Pool, logged: int, statement: str
) -> None:
    async with app_pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)


@pytest.mark.parametrize("statement", REWRITES)
async def test_a_superuser_acting_as_itself_is_refused_by_the_trigger(
    superuser: asyncpg.Connection, logged: int, statement: str
) -> None:
    assert await superuser.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    for replica in (False, True):  # session_replication_role = replica skips ordinary triggers
        with pytest.raises(asyncpg.PostgresError, match="the log is append-only") as refused:
            await _in_transaction(superuser, statement, replica=replica)
        assert refused.value.sqlstate == REFUSED_BY_TRIGGER
        detail = json.loads(refused.value.detail or "")
        assert detail["table"] == "events"
        assert detail["operation"] == statement.split()[0]
        assert detail["role"] == await superuser.fetchval("SELECT current_user")
    assert await superuser.fetchval("SELECT count(*) FROM events") == logged


async def test_registry_maintenance_may_rewrite_the_log(
    superuser: asyncpg.Connection, logged: int
) -> None:
    tr = superuser.transaction()
    await tr.start()
    try:
        await superuser.execute(f"SET LOCAL ROLE {dbroles.MAINTENANCE_ROLE}")
        updated = await superuser.execute("UPDATE events SET metadata = '{}'")
        deleted = await superuser.execute("DELETE FROM events WHERE position = 1")
        await superuser.execute("TRUNCATE events")
        left = await superuser.fetchval("SELECT count(*) FROM events")
    finally:
        await tr.rollback()
    assert (updated, deleted, left) == (f"UPDATE {logged}", "DELETE 1", 0)
    assert await superuser.fetchval("SELECT count(*) FROM events") == logged
    assert await superuser.fetchval("SELECT current_user") != dbroles.MAINTENANCE_ROLE


async def test_append_events_runs_as_its_owner_and_only_the_service_may_call_it(
    superuser: asyncpg.Connection,
) -> None:
    """What 0031 declares; a migration that re-creates append_events must declare it again."""
    row = await superuser.fetchrow(
        """
        SELECT p.prosecdef, p.proconfig,
               EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0) AS public_may,
               has_function_privilege($1, p.oid, 'EXECUTE') AS app_may
          FROM pg_proc p
         WHERE p.proname = 'append_events' AND p.pronamespace = current_schema()::regnamespace
        """,
        dbroles.APP_ROLE,
    )
    assert row is not None
    assert row["prosecdef"], "append_events must be SECURITY DEFINER"
    assert [c for c in row["proconfig"] or [] if c.startswith("search_path=pg_catalog, ")]
    assert row["app_may"]
    assert not row["public_may"]


async def test_the_service_may_use_every_other_table_and_sequence(
    app_pool: asyncpg.Pool, superuser: asyncpg.Connection
) -> None:
    tables = [
        r["table_name"]
        for r in await superuser.fetch(
            """
            SELECT table_name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
             ORDER BY table_name
            """
        )
    ]
    assert {*LOG_TABLES, *LIMITED, *READ_WRITE, "rm_seats", "rm_waits"} <= set(tables)
    # The log's partitions (0065) are the log too.
    partitions = {r["name"] for r in await superuser.fetch("SELECT name FROM event_partitions()")}
    assert "events_default" in partitions
    async with app_pool.acquire() as conn:
        for table in tables:
            may = {p for p in (*DML, "TRUNCATE") if await _may(conn, table, p)}
            if table in LOG_TABLES or table in partitions:
                assert may == {"SELECT"}, table
            elif table in LIMITED:
                assert may == LIMITED[table], table
            elif table in READ_WRITE or table.startswith("rm_"):
                assert may == set(DML), table
            else:
                assert "SELECT" in may and "TRUNCATE" not in may, table
            # Not only the catalogue's word: each statement passes the executor's check (made
            # before any row is touched), in a transaction that is rolled back.
            tr = conn.transaction()
            await tr.start()
            try:
                await conn.fetch(f'SELECT * FROM "{table}" LIMIT 1')
                if "DELETE" in may:
                    await conn.execute(f'DELETE FROM "{table}" WHERE false')
                if "INSERT" in may:
                    await conn.execute(f'INSERT INTO "{table}" SELECT * FROM "{table}" WHERE false')
            finally:
                await tr.rollback()
        sequences = await conn.fetch(
            """
            SELECT sequence_name AS name FROM information_schema.sequences
             WHERE sequence_schema = current_schema()
            """
        )
        for name in (s["name"] for s in sequences):
            usable = await conn.fetchval(
                "SELECT has_sequence_privilege(current_user, $1, 'USAGE')", name
            )
            assert usable == (name != "events_position_seq"), name


async def test_a_pooled_connection_keeps_the_role_after_release_and_reset(
    fresh_database_url: str,
) -> None:
    pool = await dbroles.create_pool(fresh_database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("RESET ROLE")  # back to the session's default: still the app's
            assert await conn.fetchval("SELECT current_user") == dbroles.APP_ROLE
        for _ in range(2):  # released (the pool's RESET ALL) and acquired again
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT pg_backend_pid()") == pid
                assert await conn.fetchval("SELECT current_user") == dbroles.APP_ROLE
                assert await conn.fetchval("SELECT session_user") != dbroles.APP_ROLE
        # A connection the pool opens later, in place of one it dropped, acts as the app too.
        await pool.expire_connections()
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid
            assert await conn.fetchval("SELECT current_user") == dbroles.APP_ROLE
    finally:
        await pool.close()


async def test_a_plain_owner_url_serves_once_it_is_a_member(servers: ServerUrls) -> None:
    """A non-superuser owner: the migrations say what a superuser must grant when the owner
    cannot make itself a member; then the owner URL acts as the app and, as itself, is refused
    by the trigger. A user that is no member is refused the role with a clear message."""
    owner, stranger, name = (
        unique_name("registry_test_owner"),
        unique_name("registry_test_stranger"),
        unique_name("registry_test_owned"),
    )
    admin = await asyncpg.connect(servers.database_url)
    try:
        for user in (owner, stranger):
            await admin.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{PASSWORD}'")
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        url = _as_user(servers.database_url, name, owner)
        try:
            # The roles exist already (this run's template made them): only a grant is missing.
            with pytest.raises(MigrationError, match=f"GRANT registry_app TO {owner}"):
                await apply_migrations(url)
            await admin.execute(f'GRANT registry_app, registry_maintenance TO "{owner}"')
            await apply_migrations(url)

            pool = await dbroles.create_pool(url, min_size=1, max_size=1)
            try:
                store = PostgresEventStore(pool, test_codec())
                await store.append([StreamAppend("account-1", ANY, [Deposited(amount=1)])])
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT current_user") == dbroles.APP_ROLE
            finally:
                await pool.close()
            conn = await asyncpg.connect(url)
            try:
                with pytest.raises(asyncpg.PostgresError) as refused:
                    await conn.execute("DELETE FROM events")
                assert refused.value.sqlstate == REFUSED_BY_TRIGGER
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL ROLE {dbroles.MAINTENANCE_ROLE}")
                    await conn.execute("UPDATE events SET metadata = metadata")
            finally:
                await conn.close()

            strangers = _as_user(servers.database_url, name, stranger)
            with pytest.raises(dbroles.AppRoleError, match="GRANT registry_app TO") as error:
                await dbroles.connect(strangers)
            assert not isinstance(error.value, dbroles.AppRoleMissing)
        finally:
            await drop_database(servers.database_url, name)
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{owner}"; DROP ROLE IF EXISTS "{stranger}"')
        await admin.close()


async def _may(conn: Connection, table: str, privilege: str) -> bool:
    return bool(
        await conn.fetchval("SELECT has_table_privilege(current_user, $1, $2)", table, privilege)
    )


def _as_user(server_url: str, database: str, user: str) -> str:
    """A URL of `database` on the tests' server, as `user`."""
    parts = urlsplit(with_database(server_url, database))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{PASSWORD}@{host}", parts.path, parts.query, ""))


async def _in_transaction(conn: asyncpg.Connection, statement: str, *, replica: bool) -> None:
    async with conn.transaction():
        if replica:
            await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(statement)
