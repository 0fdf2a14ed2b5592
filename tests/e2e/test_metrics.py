"""`GET /metrics` through the real app on a fresh database: Prometheus text, no key needed, with
each projection's position and lag read from the database at scrape time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from projections import PROJECTIONS, by_name
from projections.rebuild import rebuild
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from tests.support.api import Api

NAMES = sorted(p.name for p in PROJECTIONS)
#: metric name -> {projection label ("" for none): value}
Scrape = dict[str, dict[str, float]]


async def scrape(api: Api, **headers: str) -> Scrape:
    response = await api.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    found: Scrape = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[sample.labels.get("projection", "")] = sample.value
    return found


async def scrape_at_head(api: Api, within: float = 180.0) -> Scrape:
    """A scrape once the fenced head has reached the last event written (the fence is the
    cluster's oldest running transaction: another database's long one holds it back a while)."""
    written = await api.head()
    deadline = time.monotonic() + within
    while (found := await scrape(api))["registry_log_head"][""] < written:
        assert time.monotonic() < deadline, found["registry_log_head"]
        await asyncio.sleep(0.05)
    return found


async def until(api: Api, holds: Callable[[Scrape], bool], within: float = 60.0) -> Scrape:
    deadline = time.monotonic() + within
    while not holds(found := await scrape(api)):
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
    return found


def caught_up(found: Scrape) -> bool:
    return all(lag == 0 for lag in found["registry_projection_lag_events"].values())


async def test_metrics_need_no_key_and_show_every_projection_following_the_log(api: Api) -> None:
    await api.create_event()
    await api.room("zaal", 10)
    await api.participant("ann")

    found = await scrape_at_head(api)

    head = found["registry_log_head"][""]
    assert head == await api.head() >= 4
    for metric in ("position", "lag_events", "lag_seconds", "leader"):
        assert sorted(found[f"registry_projection_{metric}"]) == NAMES, metric
    for name in NAMES:
        position = found["registry_projection_position"][name]
        assert 0 <= position <= head
        assert found["registry_projection_lag_events"][name] == head - position, name
    # The app's own projector (projector_in_process) leads every projection and catches up.
    found = await until(api, caught_up)
    for name in NAMES:
        assert found["registry_projection_position"][name] == head
        assert found["registry_projection_lag_seconds"][name] == 0
        assert found["registry_projection_generation"][name] == 1
        assert found["registry_projection_leader"][name] == 1


async def test_lag_seconds_count_from_the_first_event_not_applied(api: Api) -> None:
    await api.create_event()
    await until(api, caught_up)
    conn = await asyncpg.connect(api.database_url)
    try:
        # Stop every runner before its batch (its `FOR UPDATE` of a checkpoint waits for this
        # lock; a scrape's plain reads do not). A table lock, not a row lock: a row lock would
        # take a transaction id and hold back the log's fence, and with it the head itself.
        async with conn.transaction():
            await conn.execute("LOCK TABLE projection_checkpoints IN EXCLUSIVE MODE")
            assert await conn.fetchval("SELECT pg_current_xact_id_if_assigned()") is None
            await api.participant("ann")
            await asyncio.sleep(1.5)
            stuck = await scrape_at_head(api)
    finally:
        await conn.close()

    for name in NAMES:
        assert stuck["registry_projection_lag_events"][name] >= 1, name
        assert stuck["registry_projection_lag_seconds"][name] >= 1.5, name
    # Let go, and they catch up: the lag is back to 0, in seconds too.
    found = await until(api, caught_up)
    assert set(found["registry_projection_lag_seconds"].values()) == {0}


async def test_metrics_follow_a_rebuild_to_the_head(api: Api) -> None:
    await api.create_event()
    await api.participant("ann")
    head = (await scrape_at_head(api))["registry_log_head"][""]
    pool = await asyncpg.create_pool(api.database_url, min_size=1, max_size=4)
    try:
        store = PostgresEventStore(pool, EventCodec(ALL_EVENTS))
        generation, position = await rebuild(pool, store, by_name("catalog"))
    finally:
        await pool.close()
    assert (generation, position) == (2, head)

    found = await scrape(api)

    assert found["registry_projection_generation"]["catalog"] == 2
    assert found["registry_projection_position"]["catalog"] == head
    assert found["registry_projection_lag_events"]["catalog"] == 0
    assert found["registry_projection_lag_seconds"]["catalog"] == 0


async def test_metrics_ignore_a_bad_key_and_are_documented_as_keyless(api: Api) -> None:
    # Public like /health: a wrong key is not looked at, let alone refused.
    await scrape(api, Authorization="Bearer not-a-key")

    document = (await api.client.get("/schema/openapi.json")).json()
    assert document["paths"]["/metrics"]["get"]["security"] == [{}]
