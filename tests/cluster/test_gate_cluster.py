"""The gate on a Redis Cluster (issue 10): three primaries with a replica each, from the local
redis-server, the app's client a RedisCluster (`redis+cluster://`). The end-to-end flash crowd
and fallback cascade of tests/e2e/test_signups.py run against it; the primary owning the event's
slot is failed over in the middle of the crowd (CLUSTER FAILOVER: no write is lost), and killed
outright before the cascade (its replica, in sync while nothing was written, takes over and has
no scripts loaded: NOSCRIPT, then SCRIPT LOAD). Afterwards the log keeps every rule, every
acknowledged sign-up is in it exactly once, and the gate equals its rebuild from the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from registry.capacity.connect import open_client
from registry.capacity.redis_gate import RedisGate
from tests.e2e import test_signups as e2e
from tests.support.api import Api
from tests.support.api_processes import api_processes
from tests.support.crowds import flash_crowd
from tests.support.invariants import acknowledged_once, gate_agrees_with_log, log_keeps_every_rule
from tests.support.redis_cluster import RedisClusterServers, binaries_present, redis_cluster
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not binaries_present(), reason="no redis-server / redis-cli binary here"),
]
ORG, CROWD, CASCADE = "acme", "crowd", "almelo"  # the cascade's event: tests/e2e/test_signups


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    with redis_cluster() as servers:
        yield servers


@pytest.fixture(scope="module")
async def database_url(servers: ServerUrls, template_database: str) -> AsyncIterator[str]:
    """One database for the module's tests (they use an event each): one API start."""
    name = unique_name("registry_test_cluster")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        yield url
    finally:
        await drop_database(servers.database_url, name)


@pytest.fixture(scope="module")
async def api(
    database_url: str, cluster: RedisClusterServers, redis_prefix: str
) -> AsyncIterator[Api]:
    # `registry serve` (granian) with the cluster's URL in its environment, over real HTTP:
    # the in-process test client would answer the crowd's requests one at a time.
    async with api_processes(database_url, cluster.url, redis_prefix) as (api, _):
        yield api


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


def sentinel(api: Api, event: str) -> str:
    """A key of the event's hash tag: its slot is the event's, on one shard."""
    return f"{api.redis_prefix}:{{{ORG}:{event}}}:sentinel"


async def holds_every_invariant(
    api: Api, pool: asyncpg.Pool, cluster: RedisClusterServers, event: str
) -> None:
    await log_keeps_every_rule(pool)
    client = open_client(cluster.url, 8)
    try:
        await gate_agrees_with_log(pool, RedisGate(client, api.redis_prefix), ORG, event)
    finally:
        await client.aclose()


async def test_a_flash_crowd_through_a_failover_gets_exactly_the_seats(
    api: Api, pool: asyncpg.Pool, cluster: RedisClusterServers
) -> None:
    swapped: list[tuple[int, int]] = []

    async def fail_over() -> None:
        swapped.append(await cluster.failover(sentinel(api, CROWD), resync=False))

    crowd = await flash_crowd(
        api, people=300, seats=30, event=CROWD, in_flight=32, midway=fail_over
    )
    ((_, new),) = swapped
    assert cluster.primary_of(sentinel(api, CROWD))[0] == new
    assert crowd.answered_after_midway is not None and crowd.answered_after_midway < 300, (
        "the failover did not happen under load"
    )
    await acknowledged_once(pool, ORG, CROWD, crowd.acknowledged)
    await holds_every_invariant(api, pool, cluster, CROWD)


async def test_the_fallback_cascade_then_the_primary_killed(
    api: Api, pool: asyncpg.Pool, cluster: RedisClusterServers
) -> None:
    await e2e.test_the_fallback_cascade_happens_in_one_step(api)  # the e2e scenario as it is
    # Kill the event's primary once its replica has every write (an unplanned failover loses
    # what was not replicated yet: docs/scaling.md); the replica takes over without the scripts.
    key = sentinel(api, CASCADE)
    await cluster.replicated(key)
    old, new = await cluster.failover(key, kill=True)
    assert cluster.primary_of(key)[0] == new
    assert cluster.nodes[old].process.poll() is not None
    # Both sessions are full (bob in a, cy in b): newcomers queue, in order, on the new primary.
    for place, name in enumerate(("dee", "eve"), start=1):
        answer = await api.sign_up(await api.participant(name), "a")
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert (body["status"], body["waitlist_position"]) == ("waitlisted", place)
    await holds_every_invariant(api, pool, cluster, CASCADE)
