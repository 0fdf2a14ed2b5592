"""Environment -> one frozen settings object.

Read once, where a process starts (the CLI, the ASGI app factory, a test fixture); never at import
time. Every variable is prefixed ``REGISTRY_``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", frozen=True, extra="ignore")

    #: PostgreSQL, the truth. With neither URL set, `registry serve` starts embedded servers.
    database_url: str | None = None
    #: Redis, the capacity gate.
    redis_url: str | None = None
    #: Prefix of every Redis key this deployment owns (tests use one per run).
    redis_prefix: str = "registry"
    #: Where the embedded servers keep their data.
    data_dir: Path = Path(".registry")

    #: Connection pool bounds per process.
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    #: Redis connections per process (callers wait for one beyond that).
    redis_max_connections: int = Field(default=50, ge=1)
    #: Server-side statement timeout for every connection, in milliseconds.
    statement_timeout_ms: int = Field(default=10_000, ge=0)

    #: Apply pending migrations when `serve` starts.
    migrate_on_start: bool = True
    #: Run the projector inside `serve` (docker-compose turns it off and runs its own).
    projector_in_process: bool = True

    #: Largest accepted request body, in bytes.
    max_body_bytes: int = 1024 * 1024

    #: Webhooks (src/registry/notifications/): how often the dispatcher looks for work, how long
    #: one request may take, and the retries: attempt n waits a random time up to
    #: min(cap, base * 2 ** (n - 1)) seconds; after `max_attempts` failures a delivery is dead.
    webhook_poll_interval_s: float = Field(default=0.5, gt=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_retry_base_s: float = Field(default=2.0, ge=0)
    webhook_retry_cap_s: float = Field(default=3600.0, ge=0)
    webhook_max_attempts: int = Field(default=12, ge=1)

    #: `?as_of=` replays (src/registry/audit/replay.py) store a snapshot of an event's state
    #: every this many facts of the event, and start from the nearest one (0: no snapshots).
    replay_snapshot_every: int = Field(default=1000, ge=0)

    @property
    def uses_embedded_servers(self) -> bool:
        return self.database_url is None and self.redis_url is None


def load_settings() -> Settings:
    """Read the environment now (a function, so nothing happens at import time)."""
    return Settings()
