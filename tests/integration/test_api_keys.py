"""API keys against PostgreSQL: creating, looking up, revoking, what is stored; the principal
cache; and the local key file `registry serve` keeps for the embedded servers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from registry.auth.cache import PrincipalCache
from registry.auth.keys import (
    KEY_PATTERN,
    create_key,
    generate_key,
    hash_key,
    lookup,
    revoke,
)
from registry.auth.principal import Principal
from registry.auth.provision import LOCAL_KEYS_FILE, local_keys

ALL_ROWS = "SELECT t::text FROM {table} t"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


def principal(organisation: str = "acme") -> Principal:
    return Principal(organisation=organisation, role="form", key_id=uuid.uuid4())


def test_a_key_is_rk_and_256_random_bits() -> None:
    keys = {generate_key() for _ in range(100)}

    assert len(keys) == 100
    for key in keys:
        assert KEY_PATTERN.fullmatch(key), key
        assert len(key) == 3 + 43


async def test_a_created_key_finds_its_organisation_and_role(conn: asyncpg.Connection) -> None:
    org = new_org()

    key = await create_key(conn, "organiser", org)
    found = await lookup(conn, key)

    assert found is not None
    assert (found.organisation, found.role) == (org, "organiser")
    assert await conn.fetchval("SELECT id FROM api_keys WHERE key_hash = $1", hash_key(key)) == (
        found.key_id
    )


async def test_an_unknown_organisation_is_created(conn: asyncpg.Connection) -> None:
    org = new_org()
    assert not await conn.fetchval("SELECT count(*) FROM organisations WHERE slug = $1", org)

    await create_key(conn, "form", org)
    await create_key(conn, "auditor", org)  # and found the second time

    assert await conn.fetchval("SELECT count(*) FROM organisations WHERE slug = $1", org) == 1


@pytest.mark.parametrize("key", ["", "rk_short", "Bearer x", "rk_" + "!" * 43])
async def test_malformed_keys_are_unknown(conn: asyncpg.Connection, key: str) -> None:
    assert await lookup(conn, key) is None


async def test_an_unknown_key_is_unknown(conn: asyncpg.Connection) -> None:
    assert await lookup(conn, generate_key()) is None


async def test_a_revoked_key_no_longer_authenticates(conn: asyncpg.Connection) -> None:
    key = await create_key(conn, "form", new_org())
    found = await lookup(conn, key)
    assert found is not None

    assert await revoke(conn, found.key_id) is True
    assert await lookup(conn, key) is None
    assert await revoke(conn, found.key_id) is False  # already revoked: revoked_at is kept


async def test_only_the_hash_is_stored(conn: asyncpg.Connection) -> None:
    org = new_org()
    key = await create_key(conn, "auditor", org)

    row = await conn.fetchrow("SELECT * FROM api_keys WHERE organisation = $1", org)
    assert row is not None
    assert row["key_hash"] == hashlib.sha256(key.encode()).digest()
    for table in ("api_keys", "organisations"):
        for (text,) in await conn.fetch(ALL_ROWS.format(table=table)):
            assert key not in text
            assert key.removeprefix("rk_") not in text


@pytest.mark.parametrize(
    ("role", "org", "message"),
    [
        ("admin", "acme", "unknown role 'admin'"),
        ("form", "Acme", "invalid organisation 'Acme'"),
        ("form", "-acme", "invalid organisation"),
        ("form", "acme\n", "invalid organisation"),
        ("form", "a" * 64, "invalid organisation"),
    ],
)
async def test_bad_role_or_organisation_writes_nothing(
    conn: asyncpg.Connection, role: str, org: str, message: str
) -> None:
    before = await conn.fetchval("SELECT count(*) FROM api_keys")

    with pytest.raises(ValueError, match=message):
        await create_key(conn, role, org)

    assert await conn.fetchval("SELECT count(*) FROM api_keys") == before


async def test_the_database_refuses_a_bad_role_or_slug(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO organisations (slug) VALUES ('Not A Slug')")
    org = new_org()
    await conn.execute("INSERT INTO organisations (slug) VALUES ($1)", org)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO api_keys (organisation, role, key_hash) VALUES ($1, 'admin', $2)",
            org,
            hash_key(generate_key()),
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_after_the_ttl_even_when_used() -> None:
    clock = FakeClock()
    cache = PrincipalCache(ttl_s=30, clock=clock)
    who = principal()
    cache.put(b"h", who)

    clock.now += 29.9
    assert cache.get(b"h") == who  # a hit does not extend the entry...
    clock.now += 0.1
    assert cache.get(b"h") is None  # ...so a revocation is seen within the TTL
    assert len(cache) == 0


def test_cache_is_bounded_and_keeps_the_recently_used() -> None:
    cache = PrincipalCache(max_entries=2, clock=FakeClock())
    first, second, third = principal("a"), principal("b"), principal("c")
    cache.put(b"1", first)
    cache.put(b"2", second)
    assert cache.get(b"1") == first  # 1 is now the most recently used

    cache.put(b"3", third)

    assert len(cache) == 2
    assert cache.get(b"2") is None
    assert cache.get(b"1") == first
    assert cache.get(b"3") == third


async def test_local_keys_are_made_once_kept_0600_and_reused(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # `registry serve` runs this before its event loop; a thread gives it one of its own here.
    first = await asyncio.to_thread(local_keys, fresh_database_url, tmp_path)

    path = tmp_path / LOCAL_KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"organisation": "default", "keys": first}
    assert list(first) == ["organiser", "form", "auditor"]
    conn = await asyncpg.connect(fresh_database_url)
    try:
        for role, key in first.items():
            found = await lookup(conn, key)
            assert found is not None
            assert (found.organisation, found.role) == ("default", role)
        path.chmod(0o644)

        assert await asyncio.to_thread(local_keys, fresh_database_url, tmp_path) == first
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 3

        # A key that stopped working (revoked, or a database reset) is replaced; others are kept.
        form = await lookup(conn, first["form"])
        assert form is not None
        await revoke(conn, form.key_id)
        third = await asyncio.to_thread(local_keys, fresh_database_url, tmp_path)
    finally:
        await conn.close()

    assert third["organiser"] == first["organiser"]
    assert third["auditor"] == first["auditor"]
    assert third["form"] != first["form"]
    assert json.loads(path.read_text())["keys"] == third


async def test_an_unreadable_local_key_file_is_replaced(
    fresh_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / LOCAL_KEYS_FILE
    path.write_text("{not json")

    keys = await asyncio.to_thread(local_keys, fresh_database_url, tmp_path)

    assert json.loads(path.read_text())["keys"] == keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
