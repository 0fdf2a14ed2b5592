"""`registry` commands run as a subprocess, as an operator would: the environment's REGISTRY_*
settings dropped, the given URLs set (a Redis URL that is never reached when the command needs
none)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

UNUSED_REDIS = "redis://unused:1/0"


def run_cli(
    *args: str, database_url: str, redis_url: str = UNUSED_REDIS, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-m", "registry.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def run_cli_async(
    *args: str, url: str, redis_url: str = UNUSED_REDIS
) -> subprocess.CompletedProcess[str]:
    """run_cli off the event loop (the tests' servers may run in it)."""
    return await asyncio.to_thread(run_cli, *args, database_url=url, redis_url=redis_url)
