"""The app served over real HTTP (uvicorn, in this event loop, on a free port) on a fresh
database, with keys: for clients that need a socket (a browser, a streaming response; the
in-process ASGI test client buffers whole answers)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from tests.support.api import create_test_keys


@dataclass
class Served:
    base_url: str
    app: Litestar
    keys: dict[str, str]  # "acme:organiser" -> key

    def as_(self, role: str, org: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[f'{org}:{role}']}"}

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, **kw)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the test run keeps its own (tests/conftest.py)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def served_api(
    database_url: str, redis_url: str, redis_prefix: str, **settings: Any
) -> AsyncIterator[Served]:
    from registry.api.app import create_app
    from registry.settings import Settings

    keys = await create_test_keys(database_url)
    app = create_app(
        Settings(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=f"{redis_prefix}-{uuid.uuid4().hex[:8]}",
            **{"pool_max_size": 20, **settings},
        )
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # A bounded drain: a stream a test forgot to close must not hold the run.
    config = uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=5)
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if serving.done():
                    serving.result()  # startup failed: raise its error
                    raise RuntimeError("uvicorn stopped during startup")
                await asyncio.sleep(0.02)
        yield Served(f"http://127.0.0.1:{port}", app, keys)
    finally:
        server.should_exit = True
        await serving
        sock.close()
