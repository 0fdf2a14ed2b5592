"""SIGTERM to a granian serving an open live stream: the stream ends cleanly at once and the
server stops, instead of draining until its worker kill timeout (registry.live.termination)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid

import asyncpg
import httpx
import pytest

from registry.auth.keys import create_key

WITHIN_S = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_sigterm_ends_open_streams_and_granian_stops_at_once(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        key = await create_key(conn, "organiser", "acme")
    finally:
        await conn.close()
    port = _free_port()
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": fresh_database_url,
        "REGISTRY_REDIS_URL": redis_url,
        "REGISTRY_REDIS_PREFIX": f"{redis_prefix}-{uuid.uuid4().hex[:8]}",
    }
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory"]
    command += ["--port", str(port), "--workers", "1", "--workers-kill-timeout", "15"]
    server = await asyncio.create_subprocess_exec(*command, "registry.api.app:create_app", env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            async with asyncio.timeout(30):
                while True:
                    with_error = None
                    try:
                        if (await client.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError as error:
                        with_error = error
                    assert server.returncode is None, f"granian stopped: {with_error}"
                    await asyncio.sleep(0.1)
            auth = {"Authorization": f"Bearer {key}"}
            body = {"id": "x", "title": "X", "timezone": "Europe/Amsterdam", "date": "2024-01-11"}
            created = await client.post("/v1/events", json=body, headers=auth)
            assert created.status_code == 201
            # The read models past the creation first: else its update can come after the first
            # message, at the moment of the SIGTERM (seen once, on a loaded machine).
            after = f"/v1/events/x/occupancy?after={created.json()['position']}"
            assert (await client.get(after, headers=auth)).status_code == 200
            async with client.stream("GET", "/v1/events/x/live", headers=auth) as stream:
                lines = stream.aiter_lines()
                async for line in lines:
                    if line.startswith("data:"):
                        break
                server.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                async with asyncio.timeout(WITHIN_S):
                    rest = [line async for line in lines]  # a clean end, not an error
                ended = time.monotonic() - sent
        async with asyncio.timeout(15):
            stopped = await server.wait()
        took = time.monotonic() - sent
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert not any(line.startswith("data:") for line in rest)
    assert stopped == 0
    assert ended < WITHIN_S and took < WITHIN_S, (ended, took)
