"""granian against uvicorn, serving the same app with the same number of worker processes.

    uv run python -m bench.asgi_servers [--workers 2] [--seconds 5] [--connections 64]

Starts the real app (create_app) under each server in turn on a free 127.0.0.1 port, loads
`GET /health` (the framework floor: routing, one msgspec answer, no I/O) with wrk for a fixed time,
and prints requests/s, p50/p99 latency and the ratio. Needs wrk (Debian package `wrk`). Database and
Redis URLs come from REGISTRY_DATABASE_URL / REGISTRY_REDIS_URL, else embedded servers are started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(kind: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    target = "registry.api.app:create_app"
    if kind == "granian":
        cmd = [
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            target,
        ]
    else:
        cmd = [
            "uvicorn",
            "--factory",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            target,
        ]
    bin_dir = Path(sys.executable).parent
    proc = subprocess.Popen([str(bin_dir / cmd[0]), *cmd[1:]], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def wrk(url: str, seconds: int, connections: int) -> tuple[float, str, str]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url + "/health"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    return rate, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package wrk)")
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if not (env.get("REGISTRY_DATABASE_URL") and env.get("REGISTRY_REDIS_URL")):
            from registry.embedded import EmbeddedServers

            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            embedded = stack.enter_context(EmbeddedServers(folder))
            env |= {
                "REGISTRY_DATABASE_URL": embedded.database_url,
                "REGISTRY_REDIS_URL": embedded.redis_url,
            }
        results = {}
        for kind in ("granian", "uvicorn"):
            with server(kind, args.workers, env) as url:
                wrk(url, 1, args.connections)  # warm up
                results[kind] = wrk(url, args.seconds, args.connections)
            rate, p50, p99 = results[kind]
            print(
                f"{kind:8} {args.workers} workers: {rate:>8.0f} req/s  p50 {p50:>8}  p99 {p99:>8}"
            )
        ratio = results["granian"][0] / results["uvicorn"][0]
        print(f"granian / uvicorn = {ratio:.2f}")


if __name__ == "__main__":
    main()
