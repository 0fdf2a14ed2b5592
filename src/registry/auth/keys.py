"""API keys: making them, storing their hashes, finding who a key belongs to, listing and
revoking them.

A key is ``rk_`` followed by 43 URL-safe characters (256 random bits). Only its sha256 is stored
(see migrations/0006_api_keys.sql for why a fast hash is right); the key itself is shown once.
A key may expire (migrations/0050_api_keys_expiry.sql): from then on it is refused like a revoked
one. Lifecycle and policy: docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Final
from uuid import UUID

import msgspec

from registry.auth.principal import ROLES, Principal, Role
from registry.dbtypes import Connection

KEY_PREFIX: Final = "rk_"
#: 256 bits: 43 characters of unpadded URL-safe base64.
_KEY_BYTES: Final = 32
KEY_PATTERN: Final = re.compile(r"rk_[A-Za-z0-9_-]{43}")
#: The id format of API.md; organisations are named by one.
SLUG_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DEFAULT_ORGANISATION: Final = "default"

INSERT_ORGANISATION: Final = """
INSERT INTO organisations (slug) VALUES ($1) ON CONFLICT (slug) DO NOTHING
"""
INSERT_KEY: Final = """
INSERT INTO api_keys (organisation, role, key_hash, expires_at) VALUES ($1, $2, $3, $4)
RETURNING id
"""
#: Expiry is compared with the database's clock: one clock for every worker and host.
SELECT_ACTIVE_KEY: Final = """
SELECT id, organisation, role, expires_at FROM api_keys
WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
"""
REVOKE_KEY: Final = """
UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
"""
#: Everything about the keys but their hashes (which are not secret, but have no use outside).
LIST_KEYS: Final = """
SELECT id, organisation, role, created_at, expires_at, revoked_at FROM api_keys
WHERE $1::text IS NULL OR organisation = $1
ORDER BY organisation, created_at, id
"""


class KeyInfo(msgspec.Struct, frozen=True):
    """One row of `registry keys list`: never the key, nor its hash."""

    id: UUID
    organisation: str
    role: Role
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def hash_key(key: str) -> bytes:
    """The stored form of a key: sha256 of the whole key, prefix included."""
    return hashlib.sha256(key.encode()).digest()


def is_well_formed(key: str) -> bool:
    """Whether ``key`` could be one of ours; anything else is refused without a lookup."""
    return KEY_PATTERN.fullmatch(key) is not None


def check_role(role: str) -> Role:
    """``role`` as a :data:`Role`; ValueError naming the choices otherwise."""
    for known in ROLES:
        if role == known:
            return known
    raise ValueError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")


def check_organisation(slug: str) -> str:
    # fullmatch, not `$`: in Python `$` also matches before a trailing newline.
    if SLUG_PATTERN.fullmatch(slug) is None:
        raise ValueError(
            f"invalid organisation {slug!r}: lower-case letters, digits and '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return slug


def check_expiry(expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """``expires_at`` if it is aware and still to come; ValueError otherwise."""
    if expires_at is None:
        return None
    if expires_at.utcoffset() is None:
        raise ValueError(f"expiry {expires_at.isoformat()} has no UTC offset")
    if expires_at <= now:
        raise ValueError(f"expiry {expires_at.isoformat()} is not in the future")
    return expires_at


async def create_key(
    conn: Connection, role: str, organisation: str, expires_at: dt.datetime | None = None
) -> str:
    """Store a new key for ``role`` in ``organisation`` (created if unknown), valid until
    ``expires_at`` (None: until revoked); returns the key, which is not kept anywhere. ValueError
    for an unknown role, a malformed organisation, or an expiry not in the future."""
    checked_role = check_role(role)
    check_organisation(organisation)
    check_expiry(expires_at, dt.datetime.now(dt.UTC))
    key = generate_key()
    async with conn.transaction():
        await conn.execute(INSERT_ORGANISATION, organisation)
        await conn.fetchval(INSERT_KEY, organisation, checked_role, hash_key(key), expires_at)
    return key


async def lookup(conn: Connection, key: str) -> Principal | None:
    """Who ``key`` belongs to; None for a malformed, unknown or revoked key."""
    if not is_well_formed(key):
        return None
    return await lookup_hash(conn, hash_key(key))


async def lookup_hash(conn: Connection, key_hash: bytes) -> Principal | None:
    """:func:`lookup` for a key already hashed (the HTTP layer caches by hash).

    The key is found by its hash in a B-tree index, whose comparisons are not constant-time; that
    is not a timing oracle worth closing. What could leak is how long a prefix of the stored
    sha256 a guess's sha256 shares, and that is no step towards a key: making a key whose hash
    has a chosen prefix is a preimage search (each further byte costs 256 times more), and even
    a whole hash would not give the key back. The secret itself (the key) is never compared.
    """
    row = await conn.fetchrow(SELECT_ACTIVE_KEY, key_hash)
    if row is None:
        return None
    return Principal(
        organisation=row["organisation"],
        role=check_role(row["role"]),
        key_id=row["id"],
        expires_at=row["expires_at"],
    )


async def revoke(conn: Connection, key_id: UUID) -> bool:
    """Revoke a key; False if it was unknown or already revoked. Processes that have it cached
    keep accepting it for up to the cache's TTL (:mod:`registry.auth.cache`)."""
    status: str = await conn.execute(REVOKE_KEY, key_id)
    return status == "UPDATE 1"


async def list_keys(conn: Connection, organisation: str | None = None) -> list[KeyInfo]:
    """Every key (of ``organisation``, if given), by organisation then age; no secrets."""
    rows = await conn.fetch(LIST_KEYS, organisation)
    return [
        KeyInfo(
            id=row["id"],
            organisation=row["organisation"],
            role=check_role(row["role"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )
        for row in rows
    ]
