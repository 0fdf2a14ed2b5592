"""API keys from the command line: made on demand (``registry keys create``), listed and revoked
(``registry keys list|revoke``), and the local set ``registry serve`` keeps for the embedded
servers.

The local set is one key per role for organisation ``default``, in ``REGISTRY_DATA_DIR/keys.json``
(mode 0600). That file is the one place a key's plaintext is kept, and only on the user's own
machine, next to the embedded database; the database itself holds only hashes. A real deployment
(URLs configured) gets no such file: its keys are made with ``registry keys create``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final
from uuid import UUID

import asyncpg
import msgspec

from registry import dbroles
from registry.auth.keys import (
    DEFAULT_ORGANISATION,
    KeyInfo,
    create_key,
    list_keys,
    lookup,
    revoke,
)
from registry.auth.principal import ROLES, Role
from registry.dbtypes import Connection

LOCAL_KEYS_FILE: Final = "keys.json"
_FILE_MODE: Final = 0o600

_log = logging.getLogger(__name__)


class KeysNotReady(Exception):
    """The database has no key tables yet: it is not migrated."""


class LocalKeys(msgspec.Struct, frozen=True):
    """The contents of keys.json."""

    organisation: str
    keys: dict[str, str]


def create(
    database_url: str, role: str, organisation: str, expires_at: dt.datetime | None = None
) -> str:
    """Blocking :func:`registry.auth.keys.create_key` on a connection of its own."""

    async def run() -> str:
        async with _connection(database_url) as conn:
            return await create_key(conn, role, organisation, expires_at)

    return asyncio.run(run())


def listed(database_url: str, organisation: str | None) -> list[KeyInfo]:
    """Blocking :func:`registry.auth.keys.list_keys`."""

    async def run() -> list[KeyInfo]:
        async with _connection(database_url) as conn:
            return await list_keys(conn, organisation)

    return asyncio.run(run())


def revoked(database_url: str, key_id: UUID) -> bool:
    """Blocking :func:`registry.auth.keys.revoke`: False if the key was unknown or revoked."""

    async def run() -> bool:
        async with _connection(database_url) as conn:
            return await revoke(conn, key_id)

    return asyncio.run(run())


def local_keys(database_url: str, data_dir: Path) -> dict[Role, str]:
    """One working key per role for ``default``, kept in ``data_dir/keys.json``: those of the file
    that still authenticate, new ones for the rest (the first start, a reset database, a revoked
    key). The file is rewritten if anything changed. Returns role -> key."""
    path = data_dir / LOCAL_KEYS_FILE
    stored = read_local_keys(path)

    async def run() -> dict[Role, str]:
        async with _connection(database_url) as conn:
            return await working_keys(conn, stored)

    keys = asyncio.run(run())
    if keys != stored:
        write_local_keys(path, keys)
    else:
        path.chmod(_FILE_MODE)  # the file may have been copied or restored with looser rights
    return keys


async def working_keys(conn: Connection, stored: Mapping[str, str]) -> dict[Role, str]:
    """role -> key for ``default``: the stored key where it still authenticates as that role,
    a new one otherwise."""
    keys: dict[Role, str] = {}
    for role in ROLES:
        key = stored.get(role)
        principal = await lookup(conn, key) if key else None
        if (
            key is None
            or principal is None
            or principal.role != role
            or principal.organisation != DEFAULT_ORGANISATION
        ):
            key = await create_key(conn, role, DEFAULT_ORGANISATION)
        keys[role] = key
    return keys


def read_local_keys(path: Path) -> dict[str, str]:
    """role -> key from ``path``; empty if it is missing or unreadable (new keys replace it)."""
    try:
        local = msgspec.json.decode(path.read_bytes(), type=LocalKeys)
    except FileNotFoundError:
        return {}
    except (OSError, msgspec.DecodeError) as error:
        _log.warning("ignoring %s (%s); new keys replace it", path, error)
        return {}
    if local.organisation != DEFAULT_ORGANISATION:
        return {}
    return dict(local.keys)


def write_local_keys(path: Path, keys: Mapping[Role, str]) -> None:
    """Write ``path`` with mode 0600 from the start (never readable by others, not even
    briefly), replacing any old file in one step."""
    body = msgspec.json.format(
        msgspec.json.encode(
            LocalKeys(organisation=DEFAULT_ORGANISATION, keys={r: k for r, k in keys.items()})
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        # Before writing: O_CREAT's mode is filtered by the umask, and ignored for a file left
        # behind by an earlier crash.
        os.fchmod(out.fileno(), _FILE_MODE)
        out.write(body + b"\n")
    partial.replace(path)


@asynccontextmanager
async def _connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await dbroles.connect(database_url)
    try:
        yield conn
    except asyncpg.UndefinedTableError as error:
        raise KeysNotReady("the database is not migrated (run `registry migrate`)") from error
    finally:
        await conn.close()
