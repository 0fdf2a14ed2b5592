"""The Redis client the gate talks through: one server, or a Redis Cluster.

A cluster is named by the URL's scheme (`redis+cluster://host:port`, `rediss+cluster://` with
TLS) or by `REGISTRY_REDIS_CLUSTER=true` beside a plain `redis://` URL naming any one node; the
client then is redis-py's `redis.asyncio.cluster.RedisCluster`, which learns the other nodes
from that one (CLUSTER SLOTS) and follows MOVED/ASK redirections and failovers itself
(https://redis.readthedocs.io/en/stable/clustering.html). Nothing else changes: every key the
gate touches for an event carries the event's hash tag (redis_gate.py), so each script runs on
the one node owning that slot.

Waiting for a connection: for one server a BlockingConnectionPool makes callers wait at the
limit. redis-py's asyncio cluster client has no such pool: at `max_connections` per node it
raises MaxConnectionsError at once (redis/redis-py#3135; the maintainers point to
BlockingConnectionPool, which the asyncio cluster client does not take). So the gate bounds its
own calls in flight to the limit (RedisGate `max_in_flight`) and each node gets a few
connections more than that for the calls outside the gate (the readiness ping).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from registry.capacity.redis_gate import Client, RedisGate
from registry.settings import Settings

#: URL schemes that name a cluster, and the plain scheme redis-py parses in their place.
CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
#: Connections per node beyond the gate's bound, for calls outside the gate.
OUTSIDE_THE_GATE: Final = 4
#: Seconds a caller waits for a pooled connection to one server before an error.
POOL_WAIT_S: Final = 5


class Pingable(Protocol):
    """What the rest of the app asks of the client besides the gate: whether Redis answers. One
    type, not the union Client: Litestar's signature models refuse a union of two classes."""

    def ping(self) -> Awaitable[bool]: ...


def names_cluster(url: str, cluster: bool = False) -> bool:
    """Whether the URL (or the setting beside it) names a Redis Cluster."""
    return cluster or urlsplit(url).scheme in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """The URL with a cluster scheme replaced by the one redis-py parses."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def open_client(
    url: str,
    max_connections: int,
    *,
    cluster: bool = False,
    socket_timeout: float | None = None,
    connect_timeout: float | None = None,
) -> Client:
    """A client for the URL: RedisCluster when it names a cluster, else Redis on a blocking pool
    of `max_connections`. Connections open on first use; close it with `aclose()`. The timeouts
    (seconds; None: wait for ever) bound a command's answer and a new connection."""
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout}
    if names_cluster(url, cluster):
        return RedisCluster.from_url(
            plain_url(url),
            max_connections=max_connections + OUTSIDE_THE_GATE,
            # On MOVED only patch the moved slot: by default every 5th MOVED reinitialises the
            # client, closing every node's connections, those other calls are using too (seen
            # in a failover: "'NoneType' object has no attribute 'writelines'", a 500).
            reinitialize_steps=0,
            **timeouts,
        )
    # A blocking pool: redis-py's default asyncio pool raises at its limit instead of waiting.
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT_S, **timeouts
    )
    return Redis(connection_pool=pool)


def open_gate(settings: Settings) -> tuple[Client, RedisGate]:
    """The settings' Redis client and the gate on it (its calls bounded on a cluster)."""
    if settings.redis_url is None:
        raise ValueError("REGISTRY_REDIS_URL is not set")
    cluster = names_cluster(settings.redis_url, settings.redis_cluster)
    limit = settings.redis_max_connections
    client = open_client(
        settings.redis_url,
        limit,
        cluster=cluster,
        socket_timeout=settings.redis_socket_timeout_s,
        connect_timeout=settings.redis_connect_timeout_s,
    )
    gate = RedisGate(
        client,
        settings.redis_prefix,
        hold_ttl_ms=settings.hold_ttl_ms,
        max_in_flight=limit if cluster else None,
    )
    return client, gate
