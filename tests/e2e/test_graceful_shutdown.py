"""SIGTERM drains (issue 9): `registry serve` stops taking new connections, answers the requests
in flight, and exits 0 in time."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import asyncpg
import httpx

from registry.auth.keys import create_key
from registry.cli import WORKER_KILL_TIMEOUT

READY_WITHIN_S = 60.0
IN_FLIGHT = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`registry serve` with one worker (Popen returns at once; the wait is `wait_ready`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the server exited before it was ready"
            try:
                if (await client.get(f"{url}/ready", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not ready within {READY_WITHIN_S} s")


async def test_sigterm_answers_the_requests_in_flight_and_exits_0(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        key = await create_key(conn, "organiser", "acme")
    finally:
        await conn.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {
        "REGISTRY_DATABASE_URL": fresh_database_url,
        "REGISTRY_REDIS_URL": redis_url,
        "REGISTRY_REDIS_PREFIX": f"{redis_prefix}-term-{uuid.uuid4().hex[:8]}",
        "REGISTRY_POOL_MIN_SIZE": "1",
    }
    proc = start_serve(port, env)
    try:
        await wait_ready(url, proc)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            event = {
                "id": "day",
                "title": "Day",
                "timezone": "Europe/Amsterdam",
                "date": "2024-01-11",
            }
            created = await client.post("/v1/events", json=event)
            assert created.status_code == 201, created.text
            # Reads waiting for a position the log has not reached: in flight for seconds
            # (API.md: up to 5 s, then 503 with Retry-After).
            ahead = created.json()["position"] + 1_000
            reads = [
                asyncio.create_task(client.get(f"/v1/events/day/occupancy?after={ahead}"))
                for _ in range(IN_FLIGHT)
            ]
            await asyncio.sleep(1.0)
            assert not any(r.done() for r in reads)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)

            answers = await asyncio.gather(*reads)
            code = await asyncio.to_thread(proc.wait, WORKER_KILL_TIMEOUT + 10)
            took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Every request in flight got its real answer (the read's own 503 after its wait), none a
    # dropped connection; then the process ended cleanly, well before the workers' kill timeout.
    assert [a.status_code for a in answers] == [503] * IN_FLIGHT
    for answer in answers:
        assert answer.json()["type"] == "/problems/unavailable"
        assert answer.headers["retry-after"]
    assert code == 0
    assert took < WORKER_KILL_TIMEOUT
