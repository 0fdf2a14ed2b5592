"""API keys: making them, storing their hashes, and finding who a key belongs to.

A key is ``rk_`` followed by 43 URL-safe characters (256 random bits). Only its sha256 is stored
(see migrations/0006_api_keys.sql for why a fast hash is right); the key itself is shown once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final
from uuid import UUID

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
INSERT INTO api_keys (organisation, role, key_hash) VALUES ($1, $2, $3) RETURNING id
"""
SELECT_ACTIVE_KEY: Final = """
SELECT id, organisation, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
"""
REVOKE_KEY: Final = """
UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
"""


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


async def create_key(conn: Connection, role: str, organisation: str) -> str:
    """Store a new key for ``role`` in ``organisation`` (created if unknown); returns the key,
    which is not kept anywhere. ValueError for an unknown role or a malformed organisation."""
    checked_role = check_role(role)
    check_organisation(organisation)
    key = generate_key()
    async with conn.transaction():
        await conn.execute(INSERT_ORGANISATION, organisation)
        await conn.fetchval(INSERT_KEY, organisation, checked_role, hash_key(key))
    return key


async def lookup(conn: Connection, key: str) -> Principal | None:
    """Who ``key`` belongs to; None for a malformed, unknown or revoked key."""
    if not is_well_formed(key):
        return None
    return await lookup_hash(conn, hash_key(key))


async def lookup_hash(conn: Connection, key_hash: bytes) -> Principal | None:
    """:func:`lookup` for a key already hashed (the HTTP layer caches by hash).

    Comparing hashes in an index lookup is not a timing oracle worth closing: what could leak is
    how much of a sha256 matched, and that says nothing about any key.
    """
    row = await conn.fetchrow(SELECT_ACTIVE_KEY, key_hash)
    if row is None:
        return None
    return Principal(
        organisation=row["organisation"], role=check_role(row["role"]), key_id=row["id"]
    )


async def revoke(conn: Connection, key_id: UUID) -> bool:
    """Revoke a key; False if it was unknown or already revoked. Processes that have it cached
    keep accepting it for up to the cache's TTL (:mod:`registry.auth.cache`)."""
    status: str = await conn.execute(REVOKE_KEY, key_id)
    return status == "UPDATE 1"
