"""Embedded PostgreSQL and Redis: data survives a restart, leftovers of a killed owner are handled,
and nothing of ours keeps running after stop()."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis.asyncio as redis

from registry.embedded import EmbeddedServers, EmbeddedServersError
from tests.support.processes import processes_under

pytestmark = pytest.mark.slow


def postmasters(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.name() == "postgres" and "-D" in p.cmdline()]


def valkeys(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.name() == "valkey-server"]


async def write(database_url: str, redis_url: str, value: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS kept (value text)")
        await conn.execute("INSERT INTO kept VALUES ($1)", value)
    finally:
        await conn.close()
    client = redis.from_url(redis_url)
    try:
        await client.rpush("kept", value)
    finally:
        await client.aclose()


async def read(servers: EmbeddedServers) -> tuple[list[str], list[str]]:
    conn = await asyncpg.connect(servers.database_url)
    try:
        rows = [r["value"] for r in await conn.fetch("SELECT value FROM kept ORDER BY value")]
    finally:
        await conn.close()
    client = redis.from_url(servers.redis_url, decode_responses=True)
    try:
        keys = [str(key) for key in await client.lrange("kept", 0, -1)]
    finally:
        await client.aclose()
    return rows, keys


async def test_data_survives_a_restart_and_stop_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    servers = EmbeddedServers(data_dir)
    await asyncio.to_thread(servers.start)
    try:
        await asyncio.to_thread(servers.start)  # idempotent
        assert servers.database_url.startswith("postgresql://postgres@/postgres?")
        assert servers.redis_url.startswith("redis://127.0.0.1:")
        await write(servers.database_url, servers.redis_url, "first")
        assert len(postmasters(processes_under(data_dir))) == 1
        assert len(valkeys(processes_under(data_dir))) == 1
    finally:
        await asyncio.to_thread(servers.stop)
    await asyncio.to_thread(servers.stop)  # idempotent
    assert processes_under(data_dir) == []
    with pytest.raises(EmbeddedServersError):
        _ = servers.database_url

    again = EmbeddedServers(data_dir)
    await asyncio.to_thread(again.start)
    try:
        await write(again.database_url, again.redis_url, "second")
        assert await read(again) == (["first", "second"], ["first", "second"])
        # Durable through the AOF alone: no RDB snapshots forking under load (embedded.py).
        client = redis.from_url(again.redis_url, decode_responses=True)
        try:
            assert await client.config_get("appendonly") == {"appendonly": "yes"}
            assert await client.config_get("save") == {"save": ""}
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(again.stop)
    assert processes_under(data_dir) == []
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert (data_dir / "redis" / "appendonlydir").is_dir()


def test_a_second_owner_of_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    with (
        EmbeddedServers(tmp_path / "data"),
        pytest.raises(EmbeddedServersError, match="in use by process"),
    ):
        EmbeddedServers(tmp_path / "data").start()
    assert processes_under(tmp_path) == []


OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from registry.embedded import EmbeddedServers

    servers = EmbeddedServers(Path(sys.argv[1]))
    servers.start()
    print(servers.database_url, servers.redis_url, flush=True)
    time.sleep(600)
    """
)


async def test_servers_left_by_a_killed_owner_are_reused_or_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OWNER, str(data_dir), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), timeout=120)
        database_url, redis_url = line.decode().split()
        await write(database_url, redis_url, "before the kill")
    finally:
        owner.send_signal(signal.SIGKILL)
        await owner.wait()

    left = processes_under(data_dir)
    # Neither wheel ties its server to the owner's life: both keep running.
    [old_postmaster] = postmasters(left)
    [old_valkey] = valkeys(left)

    servers = EmbeddedServers(data_dir)
    await asyncio.to_thread(servers.start)
    try:
        running = processes_under(data_dir)
        # Exactly one server of each kind on these files: PostgreSQL is adopted, Valkey replaced.
        assert [p.pid for p in postmasters(running)] == [old_postmaster.pid]
        [new_valkey] = valkeys(running)
        assert new_valkey.pid != old_valkey.pid
        assert not old_valkey.is_running()
        assert await read(servers) == (["before the kill"], ["before the kill"])
    finally:
        await asyncio.to_thread(servers.stop)
    assert processes_under(data_dir) == []
