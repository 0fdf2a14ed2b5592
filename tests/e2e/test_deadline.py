"""The per-request deadline (issue 9): 503 `unavailable` with `Retry-After` once it passes, the
work left to finish (a sign-up held up mid-append still lands once, with no gate rebuild, and
its answer is what a retry with the same Idempotency-Key gets), and streams are not cut."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import get
from litestar.di import NamedDependency
from litestar.response import Stream
from litestar.testing import AsyncTestClient

from registry.api.app import create_app
from registry.api.lifespan import Resources
from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.auth.keys import create_key
from registry.settings import Settings
from tests.support.api import running_api

DEADLINE_S = 1.0
finished: list[str] = []


@get("/test/slow", opt={"exclude_from_auth": True})
async def slow() -> str:
    await asyncio.sleep(DEADLINE_S * 2)
    finished.append("slow")
    return "late"


@get("/test/stream", opt={"exclude_from_auth": True})
async def stream() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            yield part
            await asyncio.sleep(DEADLINE_S * 0.6)

    return Stream(parts())


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert (body["type"], body["status"]) == ("/problems/unavailable", 503)
    assert body["title"] and "Idempotency-Key" in body["detail"]
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture
async def client(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        pool_min_size=1,
        pool_max_size=2,
        request_deadline_s=DEADLINE_S,
    )
    app = create_app(settings, extra_route_handlers=[slow, stream])
    async with AsyncTestClient(app, timeout=30) as test_client:
        yield test_client


async def test_past_the_deadline_the_answer_is_503_and_the_work_goes_on(
    client: AsyncTestClient[Any],
) -> None:
    finished.clear()
    began = time.monotonic()

    response = await client.get("/test/slow")

    assert_unavailable(response)
    assert DEADLINE_S <= time.monotonic() - began < DEADLINE_S * 1.8
    assert finished == []
    await asyncio.sleep(DEADLINE_S * 1.5)
    assert finished == ["slow"]


async def test_an_answer_already_started_is_not_cut(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/test/stream")  # about 1.8 deadlines in all

    assert response.status_code == 200
    assert response.content == b"abc"


async def test_within_the_deadline_nothing_changes(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        key = await create_key(conn, "form", f"dl-{uuid.uuid4().hex[:8]}")
    finally:
        await conn.close()
    response = await client.get(
        "/v1/events/none/participants/nobody", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 404


async def test_a_sign_up_held_up_mid_append_lands_once_without_a_gate_rebuild(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    async with running_api(
        fresh_database_url, redis_url, redis_prefix, request_deadline_s=DEADLINE_S
    ) as api:
        await api.create_event()
        await api.room("hall", 5)
        assert (await api.session("talk", "hall")).status_code == 201
        participant = await api.participant("ada")
        epochs = "SELECT coalesce(sum(epoch), 0) FROM gate_epochs"
        epochs_before = await api.log(epochs)
        path = f"/v1/events/almelo/participants/{participant}/signups"
        headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}

        blocker = await asyncpg.connect(fresh_database_url)
        try:
            locked = blocker.transaction()
            await locked.start()
            # Appends insert into events: they wait here, inside their transaction.
            await blocker.execute("LOCK TABLE events IN SHARE MODE")
            began = time.monotonic()
            first = await api.post(path, {"session_id": "talk"}, headers=headers)
            waited = time.monotonic() - began
            await asyncio.sleep(DEADLINE_S * 0.5)  # the append still waits on the lock
            await locked.commit()
        finally:
            await blocker.close()

        assert_unavailable(first)
        assert waited < DEADLINE_S * 1.8
        again = await api.post(path, {"session_id": "talk"}, headers=headers)
        assert again.status_code == 201, again.text
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json()["status"] == "seated"
        seats = await api.log(
            "SELECT count(*) FROM events WHERE type = 'SeatAssigned' "
            "AND data->>'participant_id' = $1",
            participant,
        )
        assert seats == 1
        assert await api.log(epochs) == epochs_before  # the work finished: nothing to rebuild


@get("/test/timeouts", opt={"exclude_from_auth": True})
async def timeouts(resources: NamedDependency[Resources]) -> dict[str, Any]:
    """What the app's own connections say (the app runs on the test client's loop of its own)."""
    async with resources.pool.acquire() as conn:
        lock = await conn.fetchval("SHOW lock_timeout")
        idle = await conn.fetchval("SHOW idle_in_transaction_session_timeout")
    kwargs = resources.redis.connection_pool.connection_kwargs  # type: ignore[attr-defined]
    return {
        "postgres": [lock, idle],
        "redis": [kwargs["socket_timeout"], kwargs["socket_connect_timeout"]],
    }


async def test_the_pools_connections_carry_the_timeouts(database_url: str, redis_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        pool_min_size=1,
        pool_max_size=1,
        lock_timeout_ms=1234,
        idle_in_transaction_timeout_ms=5678,
        redis_socket_timeout_s=3.5,
        redis_connect_timeout_s=1.5,
    )
    async with AsyncTestClient(create_app(settings, extra_route_handlers=[timeouts])) as client:
        shown = (await client.get("/test/timeouts")).json()

    assert shown == {"postgres": ["1234ms", "5678ms"], "redis": [3.5, 1.5]}


async def test_a_lock_wait_past_lock_timeout_is_503_and_writes_nothing(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    async with running_api(
        fresh_database_url, redis_url, redis_prefix, lock_timeout_ms=300, request_deadline_s=0
    ) as api:
        await api.create_event()
        await api.room("hall", 5)
        assert (await api.session("talk", "hall")).status_code == 201
        participant = await api.participant("bea")
        path = f"/v1/events/almelo/participants/{participant}/signups"
        head = await api.head()

        blocker = await asyncpg.connect(fresh_database_url)
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE events IN SHARE MODE")
                refused = await api.post(path, {"session_id": "talk"})
        finally:
            await blocker.close()

        assert_unavailable_problem(refused)
        assert await api.head() == head
        after = await api.post(path, {"session_id": "talk"})
        assert after.status_code == 201, after.text


def assert_unavailable_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["type"] == "/problems/unavailable"
    assert int(response.headers["retry-after"]) >= 1
