"""Which PostgreSQL and Redis the tests use, in this order:

1. URLs from the environment (REGISTRY_DATABASE_URL, REGISTRY_REDIS_URL), each on its own;
2. testcontainers, when a Docker engine answers a ping within a second;
3. the embedded servers (registry.embedded), in a temporary folder.

Whatever is chosen, each run gets its own database (created from a migrated template) and its own
Redis key prefix, and removes both at the end.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


@dataclass(frozen=True)
class ServerUrls:
    database_url: str  # a server-level URL: its database is only used to create others
    redis_url: str
    source: str


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def choose_servers(tmp_dir: Path) -> Iterator[ServerUrls]:
    database_url = os.environ.get("REGISTRY_DATABASE_URL")
    redis_url = os.environ.get("REGISTRY_REDIS_URL")
    with contextlib.ExitStack() as stack:
        if database_url and redis_url:
            yield ServerUrls(database_url, redis_url, "environment")
            return
        if docker_answers():
            from testcontainers.community.postgres import PostgresContainer
            from testcontainers.community.redis import RedisContainer

            if not database_url:
                pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
                database_url = pg.get_connection_url()
            if not redis_url:
                rd = stack.enter_context(RedisContainer("redis:7"))
                redis_url = f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0"
            yield ServerUrls(database_url, redis_url, "testcontainers")
            return
        from registry.embedded import EmbeddedServers

        embedded = stack.enter_context(EmbeddedServers(tmp_dir / "embedded"))
        yield ServerUrls(
            database_url or embedded.database_url, redis_url or embedded.redis_url, "embedded"
        )


def with_database(url: str, database: str) -> str:
    """The same server URL, naming another database (keeps a unix-socket ?host= query)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_database(server_url: str, name: str, template: str | None = None) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        clause = f" TEMPLATE {template}" if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
