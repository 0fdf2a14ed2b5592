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
    #: The Redis URL names one node of a Redis Cluster (as a `redis+cluster://` URL does): the
    #: gate then runs on redis-py's RedisCluster (registry.capacity.connect, docs/scaling.md).
    redis_cluster: bool = False
    #: Prefix of every Redis key this deployment owns (tests use one per run).
    redis_prefix: str = "registry"
    #: Where the embedded servers keep their data.
    data_dir: Path = Path(".registry")

    #: Connection pool bounds per process.
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    #: Redis connections per process (callers wait for one beyond that; on a cluster: gate calls
    #: in flight per process, and per node a few connections more).
    redis_max_connections: int = Field(default=50, ge=1)
    #: Group commit (src/registry/eventstore/batcher.py): appends that queue up while this
    #: process's previous batches are in flight go together, at most this many per transaction
    #: (0: every append alone), with at most `append_batches_in_flight` transactions out. One:
    #: the appends wait for the batch before theirs and go in fewer, larger batches, which cost
    #: PostgreSQL less per command (docs/decisions.md, 2026-12-07, "one append batch in flight").
    append_batch_max: int = Field(default=50, ge=0, le=50)
    append_batches_in_flight: int = Field(default=1, ge=1)
    #: Server-side statement timeout for every connection, in milliseconds.
    statement_timeout_ms: int = Field(default=10_000, ge=0)
    #: The API pool's connections (docs/security.md, "Timeouts"; 0: none): the longest wait for a
    #: lock, and the longest a transaction may sit idle before the server ends the session.
    lock_timeout_ms: int = Field(default=5_000, ge=0)
    idle_in_transaction_timeout_ms: int = Field(default=30_000, ge=0)
    #: Redis: the longest wait for an answer on an open connection, and for a new connection.
    redis_socket_timeout_s: float = Field(default=5.0, gt=0)
    redis_connect_timeout_s: float = Field(default=2.0, gt=0)
    #: How long a gate decision stays held before the reconciler settles it from the log (a
    #: process died between decision and confirmation): its participant is busy meanwhile. The
    #: reconciler rebuilds inside the gate fence, so a hold settled while its append still runs
    #: costs a rebuild, never a wrong seat.
    hold_ttl_ms: int = Field(default=30_000, ge=1_000)
    #: Seconds a request may take before it is answered 503 `unavailable` (0: no deadline); work
    #: already started finishes in the background (registry.api.deadline).
    request_deadline_s: float = Field(default=10.0, ge=0)

    #: Apply pending migrations when `serve` starts.
    migrate_on_start: bool = True
    #: Run the projector inside `serve` (docker-compose turns it off and runs its own).
    projector_in_process: bool = True

    #: Largest accepted request body, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Rate limits (docs/security.md): requests per window per API key, and per client address
    #: (every request but the operations routes, with or without a key); 0 turns one off. Off by
    #: default: the right figures depend on the deployment (one form backend's key carries all
    #: its users; behind a proxy every request has the proxy's address).
    rate_limit_per_key: int = Field(default=0, ge=0)
    rate_limit_per_address: int = Field(default=0, ge=0)
    rate_limit_window_s: int = Field(default=60, ge=1)

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
