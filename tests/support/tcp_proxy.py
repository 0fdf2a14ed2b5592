"""A TCP proxy in front of PostgreSQL that a test can cut: every open connection closed and new
ones refused (the listening socket closed) until it is restored. The server behind it goes on
running, as it would behind a broken network, so a test never stops the machine's PostgreSQL.

It runs its own event loop in a thread: the test's loop is busy driving the load, and a proxy
sharing it would slow every query of the servers under test. The target is a TCP address or a
unix socket (the embedded PostgreSQL listens on one).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

CHUNK: Final = 65536


class CutProxy:
    """`with CutProxy(target) as proxy:` listens on 127.0.0.1:`proxy.port`; `cut()` and
    `restore()` from the test's thread."""

    def __init__(self, database_url: str) -> None:
        self._target = _target_of(database_url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0  # accepted since the start
        self.cut_connections = 0  # closed by cuts

    def __enter__(self) -> CutProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def url(self, database_url: str) -> str:
        """`database_url` through the proxy: same user and database, TCP to the proxy."""
        parts = urlsplit(database_url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def cut(self) -> int:
        """Close every connection and refuse new ones; returns how many were closed."""
        closed: int = self._call(self._cut())
        return closed

    def restore(self) -> None:
        self._call(self._listen())

    def _call(self, coroutine: object) -> object:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(10)

    async def _listen(self) -> None:
        # The same port again after a cut: the URL the servers were given stays right.
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> int:
        if self._server is not None:
            self._server.close()
            self._server = None
        closed = len(self._writers)
        for writer in list(self._writers):
            _abort(writer)
        self.cut_connections += closed
        return closed

    async def _close(self) -> None:
        await self._cut()

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port, socket_path = self._target
        if socket_path is not None:
            return await asyncio.open_unix_connection(socket_path)
        return await asyncio.open_connection(host, port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await self._open_target()
        except OSError:
            _abort(writer)
            return
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers -= pair
            for end in pair:
                _abort(end)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    _abort(writer)  # one side ended: so does the other (as a reset, like a broken network)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


def _target_of(database_url: str) -> tuple[str, int, str | None]:
    """(host, port, unix socket path or None) of a libpq-style URL; `?host=/dir` names the
    socket's folder, as the embedded server's URL does."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    if host.startswith("/"):
        return host, port, f"{host}/.s.PGSQL.{port}"
    return host, port, None
