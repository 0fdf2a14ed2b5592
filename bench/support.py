"""What every benchmark needs: a throwaway migrated database on a chosen server."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from registry.migrations import apply_migrations


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def scratch_database(server_url: str | None) -> AsyncIterator[str]:
    """A fresh migrated database on `server_url` (or REGISTRY_DATABASE_URL, or an embedded
    server in a temporary folder), dropped afterwards."""
    with contextlib.ExitStack() as stack:
        server_url = server_url or os.environ.get("REGISTRY_DATABASE_URL")
        if server_url is None:
            from registry.embedded import EmbeddedServers

            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            server_url = stack.enter_context(EmbeddedServers(folder)).database_url
        name = f"registry_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = _with_database(server_url, name)
            await apply_migrations(url)
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
