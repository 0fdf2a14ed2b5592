"""Webhooks end to end: notifications caused through the API reach receivers on 127.0.0.1, signed,
retried with the same delivery id until they succeed, and dead-lettered when they never do,
without one receiver holding up another."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from registry.notifications.signing import verify
from tests.support.api import Api, running_api

#: Each attempt at the dead receiver waits this long for an answer that never comes.
TIMEOUT_S = 2.0
MAX_ATTEMPTS = 3
DELIVERIES = "/v1/webhooks/deliveries"


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: never answered


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that fails each delivery id's first `failures` attempts
    with 500 and answers 200 after that; with `hang`, it reads requests and never answers."""

    failures: int = 0
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def by_delivery(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = defaultdict(list)
        for request in self.requests:
            grouped[request.headers["registry-delivery"]].append(request)
        return grouped

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            seen = len(self.by_delivery().get(headers.get("registry-delivery", ""), []))
            status = None if self.hang else (500 if seen < self.failures else 200)
            self.requests.append(Received(time.monotonic(), headers, body, status))
            if status is None:
                await asyncio.sleep(3600)  # cancelled by stop()
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
            await writer.drain()
        finally:
            self._handlers.discard(task)
            writer.close()


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    healthy, dead = Receiver(failures=2), Receiver(hang=True)
    await healthy.start()
    await dead.start()
    try:
        yield healthy, dead
    finally:
        await healthy.stop()
        await dead.stop()


@pytest.fixture
async def api(fresh_database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Api]:
    """The app, with retries made tiny: attempts a few tens of milliseconds apart."""
    async with running_api(
        fresh_database_url,
        redis_url,
        redis_prefix,
        webhook_poll_interval_s=0.05,
        webhook_timeout_s=TIMEOUT_S,
        webhook_retry_base_s=0.05,
        webhook_retry_cap_s=0.1,
        webhook_max_attempts=MAX_ATTEMPTS,
    ) as api:
        yield api


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.05)


async def deliveries(api: Api, org: str = "acme", **query: Any) -> list[dict[str, Any]]:
    answer = await api.client.get(DELIVERIES, params=query, headers=api.as_("organiser", org))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def register(api: Api, url: str, **extra: Any) -> dict[str, Any]:
    answer = await api.post("/v1/webhooks", {"url": url, **extra}, "organiser")
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def promote_twice(api: Api) -> list[str]:
    """A session of one seat, three people signed up: two cancels, two promotions."""
    await api.create_event()
    await api.room("r1", 1)
    assert (await api.session("talk", "r1")).status_code == 201
    ann, bob, cy = [await api.participant(n) for n in ("ann", "bob", "cy")]
    statuses = [(await api.sign_up(p, "talk")).json()["status"] for p in (ann, bob, cy)]
    assert statuses == ["seated", "waitlisted", "waitlisted"]
    for leaving, promoted in ((ann, bob), (bob, cy)):
        left = await api.client.delete(
            f"/v1/events/almelo/participants/{leaving}/signups/talk", headers=api.as_("form")
        )
        assert left.json()["promoted"] == [promoted]
    return [bob, cy]


async def test_each_notification_reaches_a_flaky_receiver_once_and_a_dead_one_is_dead_lettered(
    api: Api, receivers: tuple[Receiver, Receiver]
) -> None:
    healthy, dead = receivers
    good = await register(api, healthy.url, description="the form backend")
    assert good["secret"].startswith("whsec_")
    assert good["description"] == "the form backend"
    assert good["position"] >= 0
    bad = await register(api, dead.url)

    promoted = await promote_twice(api)

    async def delivered() -> bool:
        items = await deliveries(api, webhook_id=good["id"], state="delivered")
        return len(items) == 2

    await eventually(delivered, 10, "the flaky receiver's two deliveries delivered")
    # Meanwhile the dead receiver's requests hang for TIMEOUT_S each: its deliveries are still
    # pending, and the flaky one's three attempts took less than one of those hangs.
    assert {d["state"] for d in await deliveries(api, webhook_id=bad["id"])} == {"pending"}
    got = healthy.by_delivery()
    assert len(got) == 2
    for attempts in got.values():
        assert attempts[-1].at - attempts[0].at < TIMEOUT_S

    # Each notification exactly once by delivery id: three attempts (500, 500, 200) carrying the
    # same id and body, each with a valid signature of its own timestamp.
    positions = []
    for delivery_id, attempts in got.items():
        assert [a.status for a in attempts] == [500, 500, 200]
        assert len({a.body for a in attempts}) == 1
        for attempt in attempts:
            stamp, signed = (
                attempt.headers["registry-timestamp"],
                attempt.headers["registry-signature"],
            )
            assert verify(good["secret"], stamp, attempt.body, signed)
            assert not verify(bad["secret"], stamp, attempt.body, signed)
        body = json.loads(attempts[0].body)
        assert body["delivery_id"] == delivery_id
        assert body["type"] == "PromotedFromWaitlist"
        assert (body["organisation"], body["event_id"]) == ("acme", "almelo")
        assert body["event_key"] == "acme:almelo"
        assert body["data"]["session_id"] == "talk"
        positions.append((body["position"], body["data"]["participant_id"]))
    assert [p for _, p in sorted(positions)] == promoted
    logged = await api.log(
        "SELECT array_agg(position ORDER BY position) FROM events WHERE type = $1",
        "PromotedFromWaitlist",
    )
    assert [p for p, _ in sorted(positions)] == logged

    listed = {d["delivery_id"]: d for d in await deliveries(api, webhook_id=good["id"])}
    assert set(listed) == set(got)
    for item in listed.values():
        assert item["state"] == "delivered"
        assert (item["attempts"], item["last_status"], item["last_error"]) == (3, 200, None)
        assert item["delivered_at"] is not None
        assert item["next_attempt_at"] is None
        assert item["type"] == "PromotedFromWaitlist"
        assert item["log_position"] in logged

    async def dead_lettered() -> bool:
        items = await deliveries(api, webhook_id=bad["id"])
        return [d["state"] for d in items] == ["dead", "dead"]

    await eventually(dead_lettered, 4 * MAX_ATTEMPTS * TIMEOUT_S, "the dead receiver dead-lettered")
    for item in await deliveries(api, webhook_id=bad["id"], state="dead"):
        assert item["attempts"] == MAX_ATTEMPTS
        assert item["last_status"] is None
        assert "no answer" in item["last_error"]
        assert item["next_attempt_at"] is None
    assert {k: len(v) for k, v in dead.by_delivery().items()} == {
        d["delivery_id"]: MAX_ATTEMPTS for d in await deliveries(api, webhook_id=bad["id"])
    }
    assert len(await deliveries(api)) == 4
    assert [d["state"] for d in await deliveries(api, state="pending")] == []

    # Paged: one at a time, following `next`.
    page = await api.client.get(DELIVERIES, params={"limit": 1}, headers=api.as_("auditor"))
    assert page.status_code == 200
    assert len(page.json()["items"]) == 1
    following = await api.client.get(page.json()["next"], headers=api.as_("auditor"))
    assert following.json()["items"][0]["delivery_id"] != page.json()["items"][0]["delivery_id"]

    # Another organisation sees none of it.
    assert await deliveries(api, org="other") == []
    others = await api.client.get("/v1/webhooks", headers=api.as_("auditor", "other"))
    assert others.json()["items"] == []
    gone = await api.client.delete(
        f"/v1/webhooks/{good['id']}", headers=api.as_("organiser", "other")
    )
    assert gone.status_code == 404
    assert gone.json()["type"] == "/problems/not-found"


async def test_webhook_commands_roles_validation_and_idempotency(api: Api) -> None:
    for role in ("form", "auditor"):
        refused = await api.post("/v1/webhooks", {"url": "https://example.org/h"}, role)
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/forbidden"
    for path in ("/v1/webhooks", DELIVERIES):
        assert (await api.client.get(path, headers=api.as_("form"))).status_code == 403
        assert (await api.client.get(path, headers=api.as_("auditor"))).status_code == 200
    no_form = await api.client.delete(f"/v1/webhooks/{uuid.uuid4()}", headers=api.as_("form"))
    assert no_form.status_code == 403

    for url in ("ftp://example.org/h", "example.org/h", "https://", "http://h:port/"):
        answer = await api.post("/v1/webhooks", {"url": url}, "organiser")
        assert answer.status_code == 422, url
        assert (answer.json()["type"], answer.json()["field"]) == (
            "/problems/validation-failed",
            "url",
        )
    unknown = await api.post("/v1/webhooks", {"url": "https://e.org", "x": 1}, "organiser")
    assert unknown.status_code == 422
    wrong_state = await api.client.get(
        DELIVERIES, params={"state": "lost"}, headers=api.as_("organiser")
    )
    assert wrong_state.status_code == 422

    key = {"Idempotency-Key": "hook-1"}
    body = {"url": "https://example.org/h"}
    first = await api.post("/v1/webhooks", body, "organiser", headers=key)
    again = await api.post("/v1/webhooks", body, "organiser", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other_body = await api.post("/v1/webhooks", {"url": "https://e.org"}, "organiser", headers=key)
    assert other_body.json()["type"] == "/problems/idempotency-key-reused"
    assert await api.log("SELECT count(*) FROM webhooks") == 1

    listed = await api.client.get("/v1/webhooks", headers=api.as_("organiser"))
    assert listed.json()["items"] == [
        {
            "id": first.json()["id"],
            "url": "https://example.org/h",
            "description": None,
            "created_at": listed.json()["items"][0]["created_at"],
        }
    ]
    assert listed.json()["next"] is None

    path = f"/v1/webhooks/{first.json()['id']}"
    removed = await api.client.delete(path, headers=api.as_("organiser"))
    assert removed.status_code == 200
    assert removed.json()["id"] == first.json()["id"]
    assert (await api.client.delete(path, headers=api.as_("organiser"))).status_code == 404
    assert (
        await api.client.delete("/v1/webhooks/nope", headers=api.as_("organiser"))
    ).status_code == 404
    listed = await api.client.get("/v1/webhooks", headers=api.as_("organiser"))
    assert listed.json()["items"] == []


async def test_a_deleted_webhook_gets_no_deliveries_and_a_read_waits_for_the_fan_out(
    api: Api, receivers: tuple[Receiver, Receiver]
) -> None:
    healthy, _ = receivers
    kept = await register(api, healthy.url)
    deleted = await register(api, healthy.url)
    assert (
        await api.client.delete(f"/v1/webhooks/{deleted['id']}", headers=api.as_("organiser"))
    ).status_code == 200
    await promote_twice(api)
    head = await api.head()
    # `?after=` the promotions: their deliveries are there in the answer, none for the deleted.
    answer = await api.client.get(DELIVERIES, params={"after": head}, headers=api.as_("auditor"))
    assert answer.status_code == 200
    assert answer.json()["position"] >= head
    assert {d["webhook_id"] for d in answer.json()["items"]} == {kept["id"]}
    assert len(answer.json()["items"]) == 2
    late = await api.client.get(
        DELIVERIES, params={"after": head + 1000}, headers=api.as_("auditor")
    )
    assert late.status_code == 503
    assert late.json()["type"] == "/problems/unavailable"


async def test_an_organisers_change_notifies_through_its_own_write_path(
    api: Api, receivers: tuple[Receiver, Receiver]
) -> None:
    healthy, _ = receivers
    healthy.failures = 0
    await register(api, healthy.url)
    await api.create_event()
    await api.room("r1", 5)
    assert (await api.session("talk", "r1")).status_code == 201
    ann = await api.participant("ann")
    assert (await api.sign_up(ann, "talk")).json()["status"] == "seated"
    cancelled = await api.post(
        "/v1/events/almelo/sessions/talk/cancel", {"reason": "ill"}, "organiser"
    )
    assert cancelled.status_code == 200, cancelled.text

    async def both() -> bool:
        return len(healthy.requests) >= 2

    await eventually(both, 10, "two notifications")
    bodies = {json.loads(r.body)["type"]: json.loads(r.body) for r in healthy.requests}
    assert sorted(bodies) == ["SeatReleased", "SessionCancelled"]
    assert len(healthy.requests) == 2
    assert bodies["SessionCancelled"]["data"] == {"session_id": "talk", "reason": "ill"}
    assert bodies["SeatReleased"]["data"] == {
        "participant_id": ann,
        "session_id": "talk",
        "reason": "session-cancelled",
    }
