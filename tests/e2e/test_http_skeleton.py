"""The HTTP skeleton through a real app, PostgreSQL and Redis: operations routes, the OpenAPI
document, and the problem+json answers for the framework's own errors."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Sequence

import httpx
import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from litestar.types import ControllerRouterHandler

from registry.api.app import create_app
from registry.api.problems import ERROR_SLUGS, PROBLEM_MEDIA_TYPE, PROBLEM_TYPES
from registry.settings import Settings

MAX_BODY = 256


class Room(msgspec.Struct):
    capacity: int


class Metadata(msgspec.Struct):
    source: str


class Sample(msgspec.Struct):
    name: str
    capacity: int
    room: Room | None = None
    metadata: Metadata | None = None


@post("/test/echo", sync_to_thread=False, opt={"exclude_from_auth": True})
def echo(data: JSONBody[Sample]) -> Sample:
    return data


@get("/test/boom", sync_to_thread=False, opt={"exclude_from_auth": True})
def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


Client = AsyncTestClient[Litestar]

TEST_ROUTES: Sequence[ControllerRouterHandler] = (echo, boom)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def settings_for(database_url: str, redis_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        pool_min_size=1,
        pool_max_size=2,
        max_body_bytes=MAX_BODY,
    )


@pytest.fixture
async def client(database_url: str, redis_url: str) -> AsyncIterator[Client]:
    app = create_app(settings_for(database_url, redis_url), extra_route_handlers=TEST_ROUTES)
    async with AsyncTestClient(app) as test_client:
        yield test_client


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_health_answers_ok(client: Client) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_on_a_migrated_database(client: Client) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "migrations": "ok", "gates": "ok"},
    }


async def test_not_ready_while_redis_is_unreachable(database_url: str) -> None:
    settings = settings_for(database_url, f"redis://127.0.0.1:{closed_port()}/0")
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/ready")

    body = assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"] == "1"
    assert body["failing"] == ["redis"]
    assert body["checks"] == {
        "postgres": "ok",
        "redis": "unreachable",
        "migrations": "ok",
        "gates": "ok",  # no event yet: nothing to build
    }


async def test_unknown_route_is_a_not_found_problem(client: Client) -> None:
    assert_problem(await client.get("/no/such/route"), 404, "not-found")


async def test_unknown_schema_path_is_a_not_found_problem(client: Client) -> None:
    assert_problem(await client.get("/schema/no-such-page"), 404, "not-found")


async def test_wrong_method_is_a_method_not_allowed_problem(client: Client) -> None:
    response = await client.post("/health", json={})

    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


async def test_oversized_body_is_a_payload_too_large_problem(client: Client) -> None:
    response = await client.post("/test/echo", json={"name": "x" * MAX_BODY, "capacity": 1})

    assert_problem(response, 413, "payload-too-large")


async def test_body_that_is_not_json_is_a_malformed_request(client: Client) -> None:
    response = await client.post(
        "/test/echo", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert_problem(response, 400, "malformed-request")


async def test_empty_body_is_a_malformed_request(client: Client) -> None:
    response = await client.post("/test/echo", headers={"content-type": "application/json"})

    assert_problem(response, 400, "malformed-request")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "a", "capacity": "lots"}, "capacity"),
        ({"name": "a"}, "capacity"),
        ({"name": "a", "capacity": 1, "room": {}}, "room.capacity"),
        # Litestar's own error list would say "metasource" (it strips every "data.").
        ({"name": "a", "capacity": 1, "metadata": {"source": 1}}, "metadata.source"),
        ([1, 2], None),
    ],
)
async def test_body_of_the_wrong_shape_is_a_validation_problem(
    client: Client,
    payload: object,
    field: str | None,
) -> None:
    response = await client.post("/test/echo", json=payload)

    body = assert_problem(response, 422, "validation-failed")
    assert body.get("field") == field


async def test_a_valid_body_reaches_the_handler(client: Client) -> None:
    response = await client.post("/test/echo", json={"name": "a", "capacity": 3})

    assert response.status_code == 201
    assert response.json() == {"name": "a", "capacity": 3, "room": None, "metadata": None}


async def test_unexpected_error_is_an_internal_error_without_internals(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="registry.api.problems"):
        response = await client.get("/test/boom")

    assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    [record] = [r for r in caplog.records if r.name == "registry.api.problems"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


async def test_openapi_document_is_3_1(client: Client) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    assert document["info"] == {"title": "registry", "version": "1", **document["info"]}
    assert "/health" in document["paths"]
    assert "/ready" in document["paths"]


async def test_docs_page_is_html(client: Client) -> None:
    response = await client.get("/schema")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/schema/openapi.json" in response.text


def test_every_mapped_error_has_a_catalogued_slug() -> None:
    assert set(ERROR_SLUGS.values()) <= set(PROBLEM_TYPES)
