"""Schema fuzzing (issue 9): schemathesis generates requests for every operation of the app's own
OpenAPI document (`/schema/openapi.json`), sent with a valid key of each role over real HTTP.

Checks on every answer: no 5xx; the status is one the document declares for the operation, and
the body and content type match it; every 4xx is RFC 9457 `application/problem+json` with
`type`, `title`, `status` and `detail`. Bounded: a few derandomised examples per operation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.openapi import from_dict

from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.auth.principal import ROLES
from tests.support.served import Served, served_api

EXAMPLES_PER_OPERATION: Final = 4
#: not_a_server_error is asserted by hand: a 503 `unavailable` with Retry-After is the contract
#: (API.md), not a failure.
CHECKS: Final = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Each of these returns nothing useful to fuzz (the operations routes' bodies are not JSON
#: documents of their own shape, and the live stream never ends by itself).
SKIPPED: Final = {"GET /metrics", "GET /v1/events/{event}/live"}


@pytest.fixture(scope="module")
async def served(
    servers: Any, template_database: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Served]:
    from tests.support.servers import create_database, drop_database, unique_name

    name = unique_name("registry_test_fuzz")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        async with served_api(url, redis_url, redis_prefix, request_deadline_s=10) as api:
            yield api
    finally:
        await drop_database(servers.database_url, name)


def assert_not_a_server_error(case: Case, status: int, content_type: str, body: bytes) -> None:
    if status < 500:
        return
    problem = json.loads(body) if content_type.startswith(PROBLEM_MEDIA_TYPE) else {}
    assert status == 503 and problem.get("type") == "/problems/unavailable", (
        f"{case.operation.label}: {status}: {body[:300]!r}"
    )


def assert_problem(case: Case, status: int, content_type: str, body: bytes) -> None:
    if not 400 <= status < 500:
        return
    assert content_type.startswith(PROBLEM_MEDIA_TYPE), (
        f"{case.operation.label}: {status} with {content_type!r}: {body[:300]!r}"
    )
    problem = json.loads(body)
    assert problem["type"].startswith("/problems/"), problem
    assert problem["status"] == status, problem
    assert isinstance(problem["title"], str) and isinstance(problem["detail"], str), problem


def fuzz(base_url: str, document: dict[str, Any], key: str) -> list[str]:
    """Every operation, a few examples each; returns the operations run."""
    schema = from_dict(document)
    headers = {"Authorization": f"Bearer {key}"}
    ran: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in SKIPPED:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Case) -> None:
            if isinstance(case.query, dict) and "after" in case.query:
                # A position far ahead waits 5 s for nothing (then 503, as API.md says).
                case.query["after"] = 0
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=headers)
            content_type = (response.headers.get("content-type") or [""])[0]
            assert_not_a_server_error(case, response.status_code, content_type, response.content)
            assert_problem(case, response.status_code, content_type, response.content)

        run()
        ran.append(operation.label)
    return ran


@pytest.mark.parametrize("role", ROLES)
async def test_every_operation_with_each_role(served: Served, role: str) -> None:
    async with served.client() as client:
        document = (await client.get("/schema/openapi.json")).json()

    ran = await asyncio.to_thread(fuzz, served.base_url, document, served.keys[f"acme:{role}"])

    assert len(ran) >= len(document["paths"]) - len(SKIPPED)
