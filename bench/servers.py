"""Servers under test, each a subprocess on a free 127.0.0.1 port, stopped on the way out."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.asgi_servers import free_port

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
WORKERS = 2


def registry_serve_command(port: int) -> list[str]:
    """The product as deployed: `registry serve` (granian), migrations already applied."""
    return [
        str(BIN / "registry"),
        "serve",
        "--workers",
        str(WORKERS),
        "--no-migrate",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def granian_command(target: str, port: int) -> list[str]:
    """A bench app under the same granian, with the same workers, as `registry serve`."""
    return [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--factory",
        "--workers",
        str(WORKERS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        target,
    ]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    ready_s: float = 0.0


@contextlib.contextmanager
def running(
    make_command: Callable[[int], list[str]],
    env: dict[str, str],
    ready_path: str,
    ready_timeout: float = 60,
) -> Iterator[Server]:
    """Start `make_command(port)` and yield the server once `ready_path` answers 200 (giving up
    after `ready_timeout` s); `Server.ready_s` says how long that took.

    The server's output goes to a file: all of it is shown if the server fails to start, its
    first error lines when it stops (errors answered under load are counted by the client)."""
    port = free_port()
    cmd = make_command(port)
    with tempfile.NamedTemporaryFile("w+", prefix="bench-server-", suffix=".log") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            began = time.monotonic()
            _wait_ready(proc, url + ready_path, log.name, ready_timeout)
            yield Server(url, proc.pid, time.monotonic() - began)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            errors = _error_lines(Path(log.name))
            if errors:
                print(
                    f"    server log ({log.name}), first errors:\n      " + "\n      ".join(errors)
                )


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}:\n{Path(log_name).read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{url} not ready after {timeout:.0f} s:\n{Path(log_name).read_text()}"
            )
        time.sleep(0.2)


def _error_lines(log: Path, limit: int = 8) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    found = [ln for ln in lines if "Error" in ln or "Traceback" in ln or "error" in ln]
    return found[:limit]
