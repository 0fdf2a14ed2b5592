"""The app as it runs in production: `registry serve` processes (granian, one worker each) and
`registry projections run` processes on one database and one Redis (or Redis Cluster), driven
over real HTTP. Requests go round-robin to the API processes, as behind a load balancer.

tests.support.api.running_api answers each request synchronously in the test's thread
(litestar's test transport calls its portal), so concurrent requests there are served one at a
time; here they reach the servers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from tests.support.api import Api, create_test_keys

READY_WITHIN_S: Final = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RoundRobin(httpx.AsyncBaseTransport):
    """Each request to the next port in turn (a load balancer without health checks)."""

    def __init__(self, ports: list[int]) -> None:
        self._ports: Iterator[int] = itertools.cycle(ports)
        self._transport = httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host="127.0.0.1", port=next(self._ports))
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


@dataclass
class Processes:
    """Started processes, each killed (if still running) at the end; their output goes to a
    file each in `logs` (`output` reads it, for a failing assertion's message)."""

    env: dict[str, str]
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_of: dict[int, Path] = field(default_factory=dict)  # pid -> its output

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{len(self.started)}-{args[0]}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "registry.cli", *args],
                env={**self.env, "PYTHONUNBUFFERED": "1"},  # nothing lost to a SIGKILL
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a signal to the test's group does not reach them
            )
        self.started.append(process)
        self.log_of[process.pid] = log
        return process

    def output(self, process: subprocess.Popen[bytes], last: int = 4000) -> str:
        return self.log_of[process.pid].read_text(errors="replace")[-last:]

    def api(self, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
        return self.start("serve", "--port", str(port), "--workers", str(workers), "--no-migrate")

    def projector(self) -> subprocess.Popen[bytes]:
        return self.start("projections", "run")

    def stop(self) -> None:
        """SIGKILL to each process's group: granian's worker is a child of `registry serve`, and
        outlives a kill of its parent alone (seen: orphaned workers serving on)."""
        for process in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own group: start_new_session
            process.wait(10)


async def wait_ready(port: int, process: subprocess.Popen[bytes], processes: Processes) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, (
                f"the server on {port} exited before it was ready:\n{processes.output(process)}"
            )
            try:
                answer = await client.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the server on {port} not ready within {READY_WITHIN_S} s")


@asynccontextmanager
async def api_processes(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    *,
    apis: int = 1,
    projector_in_process: bool = True,
    workers: int = 1,
    server_env: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[Api, Processes]]:
    """`apis` API processes of `workers` granian workers each on a migrated database, ready; an
    Api whose requests go round-robin to them, with the same keys as running_api's; and the
    processes (start more with them). `server_env` overrides the processes' environment (a
    proxied database URL, say), not the Api's own URLs."""
    keys = await create_test_keys(database_url)
    prefix = f"{redis_prefix}-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_REDIS_URL": redis_url,
        "REGISTRY_REDIS_PREFIX": prefix,
        "REGISTRY_POOL_MIN_SIZE": "1",
        "REGISTRY_PROJECTOR_IN_PROCESS": str(projector_in_process).lower(),
    }
    env |= server_env or {}
    with tempfile.TemporaryDirectory(prefix="registry-test-processes-") as logs:
        processes = Processes(env, Path(logs))
        try:
            ports = [free_port() for _ in range(apis)]
            started = [processes.api(port, workers) for port in ports]
            for port, process in zip(ports, started, strict=True):
                await wait_ready(port, process, processes)
            client = httpx.AsyncClient(
                transport=RoundRobin(ports), base_url="http://registry", timeout=60
            )
            async with client:
                yield Api(client, database_url, keys, redis_url, prefix), processes
        finally:
            processes.stop()
