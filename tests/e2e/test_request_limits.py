"""Body size and field length limits (issue 9): a body over REGISTRY_MAX_BODY_BYTES is 413
`payload-too-large`, a field over its length 422 `validation-failed` naming it; neither writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.settings import Settings
from tests.support.api import Api, running_api
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name


@pytest.fixture(scope="module")
async def api(
    servers: ServerUrls, template_database: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Api]:
    """One app and event for the module: every test here checks that nothing is written."""
    name = unique_name("registry_test_limits")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        async with running_api(url, redis_url, redis_prefix) as api:
            await api.create_event()
            yield api
    finally:
        await drop_database(servers.database_url, name)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert (body["type"], body["status"]) == (f"/problems/{slug}", status)
    assert body["title"] and body["detail"]
    return body


async def test_a_body_over_the_limit_is_413_and_writes_nothing(api: Api) -> None:
    limit = Settings().max_body_bytes
    head = await api.head()
    padding = "x" * limit
    body = {"id": "big-day", "title": "Big", "timezone": "Europe/Amsterdam", "date": "2024-01-11"}

    too_large = await api.post("/v1/events", {**body, "venue": padding}, "organiser")

    assert_problem(too_large, 413, "payload-too-large")
    assert await api.head() == head
    just_under = await api.post("/v1/events", body, "organiser")
    assert just_under.status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("participants", {"name": "n" * 301, "email": "a@b.example"}, "name"),
        ("participants", {"name": "Ann", "email": "a" * 65 + "@b.example"}, "email"),
        ("participants", {"name": "Ann", "email": "a@b.example", "role": "r" * 301}, "role"),
        ("participants", {"id": "p" * 64, "name": "Ann", "email": "a@b.example"}, "id"),
        (
            "sessions",
            {
                "id": "s",
                "title": "t",
                "starts_at": "2024-01-11T14:00:00+01:00",
                "ends_at": "2024-01-11T15:00:00+01:00",
                "hosts": ["h"] * 51,
            },
            "hosts",
        ),
        (
            "sessions",
            {
                "id": "s",
                "title": "t",
                "starts_at": "2024-01-11T14:00:00+01:00",
                "ends_at": "2024-01-11T15:00:00+01:00",
                "description": "d" * 10_001,
            },
            "description",
        ),
        ("rooms", {"id": "r", "name": "n" * 301, "capacity": 3}, "name"),
    ],
)
async def test_a_field_over_its_length_is_422_naming_it(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    head = await api.head()
    role = "form" if path == "participants" else "organiser"

    response = await api.post(f"/v1/events/almelo/{path}", body, role)

    problem = assert_problem(response, 422, "validation-failed")
    assert problem["field"] == field
    assert await api.head() == head


async def test_a_programme_over_its_list_bounds_is_422(api: Api) -> None:
    rooms = [{"id": f"r{i}", "name": "Room", "capacity": 1} for i in range(1001)]

    response = await api.client.put(
        "/v1/events/almelo/programme",
        json={"rooms": rooms, "sessions": []},
        headers=api.as_("organiser"),
    )

    assert assert_problem(response, 422, "validation-failed")["field"] == "rooms"
