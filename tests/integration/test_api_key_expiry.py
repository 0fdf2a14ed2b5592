"""API keys' expiry and listing against PostgreSQL, and the principal cache's bound on an
expiring key (issue 9)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from registry.auth.cache import PrincipalCache
from registry.auth.keys import create_key, hash_key, list_keys, lookup, revoke
from registry.auth.principal import Principal


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


def new_org() -> str:
    return f"exp-{uuid.uuid4().hex[:12]}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_a_key_works_until_it_expires_then_not(conn: asyncpg.Connection) -> None:
    until = now() + dt.timedelta(seconds=1)
    key = await create_key(conn, "form", new_org(), until)

    found = await lookup(conn, key)
    assert found is not None
    assert found.expires_at == until
    await asyncio.sleep((until - now()).total_seconds() + 0.05)

    assert await lookup(conn, key) is None


async def test_an_expiry_not_in_the_future_is_refused_and_writes_nothing(
    conn: asyncpg.Connection,
) -> None:
    org = new_org()
    for bad in (now() - dt.timedelta(seconds=1), dt.datetime(2999, 1, 1)):  # past; no offset
        with pytest.raises(ValueError, match="expiry"):
            await create_key(conn, "form", org, bad)

    assert await conn.fetchval("SELECT count(*) FROM api_keys WHERE organisation = $1", org) == 0


async def test_the_database_refuses_an_expiry_before_creation(conn: asyncpg.Connection) -> None:
    key = await create_key(conn, "form", new_org())

    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "UPDATE api_keys SET expires_at = created_at - interval '1 s' WHERE key_hash = $1",
            hash_key(key),
        )


async def test_list_shows_every_key_of_the_organisation_without_secrets(
    conn: asyncpg.Connection,
) -> None:
    org, elsewhere = new_org(), new_org()
    until = now() + dt.timedelta(days=30)
    kept = await create_key(conn, "organiser", org)
    expiring = await create_key(conn, "auditor", org, until)
    gone = await create_key(conn, "form", org)
    await create_key(conn, "form", elsewhere)
    gone_principal = await lookup(conn, gone)
    assert gone_principal is not None
    await revoke(conn, gone_principal.key_id)

    listed = await list_keys(conn, org)

    assert [(k.organisation, k.role) for k in listed] == [
        (org, "organiser"),
        (org, "auditor"),
        (org, "form"),
    ]
    assert [k.expires_at for k in listed] == [None, until, None]
    assert [k.revoked_at is not None for k in listed] == [False, False, True]
    assert listed[2].id == gone_principal.key_id
    text = repr(listed)
    for key in (kept, expiring, gone):
        assert key not in text and key.removeprefix("rk_") not in text
        assert hash_key(key).hex() not in text
    everyone = await list_keys(conn)
    assert {k.organisation for k in everyone} >= {org, elsewhere}


class Clocks:
    """A monotonic and a wall clock that move together."""

    def __init__(self) -> None:
        self.monotonic = 100.0
        self.wall = 1_700_000_000.0

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += seconds


def expiring_principal(wall: float) -> Principal:
    return Principal(
        organisation="acme",
        role="form",
        key_id=uuid.uuid4(),
        expires_at=dt.datetime.fromtimestamp(wall, dt.UTC),
    )


def test_the_cache_keeps_no_entry_past_the_keys_expiry() -> None:
    clocks = Clocks()
    cache = PrincipalCache(ttl_s=30, clock=lambda: clocks.monotonic, wall_clock=lambda: clocks.wall)
    soon = expiring_principal(clocks.wall + 5)
    late = expiring_principal(clocks.wall + 3600)
    cache.put(b"soon", soon)
    cache.put(b"late", late)

    clocks.advance(4.9)
    assert cache.get(b"soon") == soon
    clocks.advance(0.1)
    assert cache.get(b"soon") is None  # at its expiry, not after the 30 s TTL
    clocks.advance(24.9)
    assert cache.get(b"late") == late
    clocks.advance(0.1)
    assert cache.get(b"late") is None  # the TTL still bounds a key that expires later


def test_an_already_expired_principal_is_not_served_from_the_cache() -> None:
    clocks = Clocks()
    cache = PrincipalCache(ttl_s=30, clock=lambda: clocks.monotonic, wall_clock=lambda: clocks.wall)
    cache.put(b"old", expiring_principal(clocks.wall - 1))

    assert cache.get(b"old") is None
