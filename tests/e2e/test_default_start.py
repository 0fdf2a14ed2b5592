"""The default start, as a new user would: `registry serve` with nothing configured.

It must start embedded PostgreSQL and Redis in ./.registry, migrate, answer /ready, and on SIGTERM
drain, stop the embedded servers and exit 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import processes_under

pytestmark = pytest.mark.slow

READY_WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_user_environment() -> dict[str, str]:
    # Nothing of ours configured: no URLs, no data dir, as on a fresh machine.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def serve_until_ready_then_sigterm(cwd: Path, *extra: str, env: dict[str, str]) -> str:
    """Run `registry serve`, wait for /ready, SIGTERM it; returns its output. Asserts exit 0."""
    port = free_port()
    output = cwd / "serve.log"
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port), "--workers", "1"]
    with output.open("w") as out:
        proc = subprocess.Popen([*command, *extra], cwd=cwd, env=env, stdout=out, stderr=out)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", proc, output)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = output.read_text()
    assert code == 0, log
    return log


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{output.read_text()}")
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text}"
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(0.25)
    pytest.fail(f"{url} not ready within {READY_WITHIN}s (last: {last}):\n{output.read_text()}")


def test_default_start(tmp_path: Path) -> None:
    log = serve_until_ready_then_sigterm(tmp_path, env=new_user_environment())

    data_dir = tmp_path / ".registry"
    assert (data_dir / "postgres" / "PG_VERSION").exists(), log
    assert "registry listening on http://127.0.0.1:" in log
    assert processes_under(data_dir) == [], log


STAND_IN = textwrap.dedent(
    """
    import os

    from litestar import Litestar, get
    from litestar.exceptions import ServiceUnavailableException


    @get("/ready")
    async def ready() -> dict[str, str]:
        # Workers must inherit the URLs of the embedded servers the parent started.
        if not (os.environ.get("REGISTRY_DATABASE_URL") and os.environ.get("REGISTRY_REDIS_URL")):
            raise ServiceUnavailableException("URLs not exported to the worker")
        return {"status": "ready"}


    def create_app() -> Litestar:
        return Litestar([ready])
    """
)


def test_serve_lifecycle_with_a_stand_in_app(tmp_path: Path) -> None:
    """The same lifecycle on a minimal app: covers `serve` whatever the real app does."""
    (tmp_path / "stand_in_app.py").write_text(STAND_IN)
    env = new_user_environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))

    log = serve_until_ready_then_sigterm(
        tmp_path, "--app", "stand_in_app:create_app", "--no-migrate", env=env
    )

    assert "applied" not in log
    assert processes_under(tmp_path / ".registry") == [], log
