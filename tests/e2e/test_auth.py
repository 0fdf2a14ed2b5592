"""API keys through a real app: 401 / 403 answers, the guards' role table, the order of checks,
the routes that need no key, and `registry keys create` end to end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from litestar.types import ControllerRouterHandler

from registry.api.app import create_app
from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.auth.guards import (
    any_role,
    auditor_only,
    form_or_organiser,
    organiser_only,
    reader,
)
from registry.auth.keys import KEY_PATTERN, create_key, generate_key, lookup, revoke
from registry.auth.principal import ROLES, Principal
from registry.settings import Settings
from tests.support.cli import run_cli

MAX_BODY = 256
Client = AsyncTestClient[Litestar]


class Who(msgspec.Struct):
    organisation: str
    role: str


class Body(msgspec.Struct):
    name: str


def who(principal: Principal) -> Who:
    return Who(organisation=principal.organisation, role=principal.role)


@post("/test/programme", before_request=organiser_only, sync_to_thread=False)
def programme(principal: NamedDependency[Principal], data: JSONBody[Body]) -> Who:
    return who(principal)


@post("/test/signups", before_request=form_or_organiser, sync_to_thread=False)
def signups(principal: NamedDependency[Principal], data: JSONBody[Body]) -> Who:
    return who(principal)


@get("/test/agenda", before_request=any_role, sync_to_thread=False)
def agenda(principal: NamedDependency[Principal]) -> Who:
    return who(principal)


@get("/test/reads", before_request=reader, sync_to_thread=False)
def reads(principal: NamedDependency[Principal]) -> Who:
    return who(principal)


@get("/test/audit", before_request=auditor_only, sync_to_thread=False)
def audit(principal: NamedDependency[Principal]) -> Who:
    return who(principal)


@get("/test/unguarded", sync_to_thread=False)
def unguarded(principal: NamedDependency[Principal]) -> Who:
    return who(principal)


@get("/test/ready", before_request=reader, sync_to_thread=False)
def not_the_ready_route(principal: NamedDependency[Principal]) -> Who:
    return who(principal)


@get("/test/public", opt={"exclude_from_auth": True}, sync_to_thread=False)
def public() -> str:
    return "ok"


TEST_ROUTES: Sequence[ControllerRouterHandler] = (
    programme,
    signups,
    agenda,
    reads,
    audit,
    unguarded,
    not_the_ready_route,
    public,
)

#: (method, path) -> the roles that pass; every other role gets 403.
GUARD_TABLE: dict[tuple[str, str], set[str]] = {
    ("POST", "/test/programme"): {"organiser"},
    ("POST", "/test/signups"): {"organiser", "form"},
    ("GET", "/test/agenda"): {"organiser", "form", "auditor"},
    ("GET", "/test/reads"): {"organiser", "auditor"},
    ("GET", "/test/audit"): {"auditor"},
    ("GET", "/test/unguarded"): {"organiser", "form", "auditor"},
}


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


@pytest.fixture(scope="module")
def org() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def keys(conn: asyncpg.Connection, org: str) -> dict[str, str]:
    return {role: await create_key(conn, role, org) for role in ROLES}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def call(
    client: Client, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"name": "x"} if method == "POST" else None
    return await client.request(method, path, json=body, headers=headers)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), [*GUARD_TABLE, ("GET", "/test/ready")])
async def test_no_key_is_unauthorized(client: Client, method: str, path: str) -> None:
    assert_unauthorized(await call(client, method, path))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "rk_not-even-a-scheme",
        "Bearer rk_too-short",
        "Bearer " + generate_key(),  # well-formed, unknown
    ],
)
async def test_an_unknown_or_malformed_key_is_unauthorized(
    client: Client, authorization: str
) -> None:
    response = await client.get("/test/agenda", headers={"Authorization": authorization})

    assert_unauthorized(response)


@pytest.mark.parametrize(("method", "path"), list(GUARD_TABLE))
@pytest.mark.parametrize("role", ROLES)
async def test_the_guards_role_table(
    client: Client, keys: dict[str, str], org: str, method: str, path: str, role: str
) -> None:
    response = await call(client, method, path, bearer(keys[role]))

    if role in GUARD_TABLE[(method, path)]:
        assert response.status_code == (201 if method == "POST" else 200), response.text
        assert response.json() == {"organisation": org, "role": role}
    else:
        body = assert_problem(response, 403, "forbidden")
        assert role in str(body["detail"])


async def test_the_scheme_is_case_insensitive(client: Client, keys: dict[str, str]) -> None:
    response = await client.get("/test/agenda", headers={"Authorization": f"bearer {keys['form']}"})

    assert response.status_code == 200, response.text


async def test_a_revoked_key_is_unauthorized(client: Client, conn: asyncpg.Connection) -> None:
    key = await create_key(conn, "organiser", f"gone-{uuid.uuid4().hex[:8]}")
    found = await lookup(conn, key)
    assert found is not None
    await revoke(conn, found.key_id)

    assert_unauthorized(await client.get("/test/agenda", headers=bearer(key)))


async def test_a_cached_key_keeps_working_until_the_ttl_then_not(
    client: Client, conn: asyncpg.Connection, database_url: str, redis_url: str
) -> None:
    key = await create_key(conn, "organiser", f"late-{uuid.uuid4().hex[:8]}")
    assert (await client.get("/test/agenda", headers=bearer(key))).status_code == 200
    found = await lookup(conn, key)
    assert found is not None
    await revoke(conn, found.key_id)

    # Served from this process's cache: the documented revocation delay (at most 30 s).
    assert (await client.get("/test/agenda", headers=bearer(key))).status_code == 200
    # A process without it cached (another worker, a restart) refuses the key at once.
    app = create_app(settings_for(database_url, redis_url), extra_route_handlers=TEST_ROUTES)
    async with AsyncTestClient(app) as other:
        assert_unauthorized(await other.get("/test/agenda", headers=bearer(key)))


@pytest.mark.parametrize("path", ["/health", "/ready", "/schema/openapi.json", "/schema"])
async def test_operations_routes_need_no_key(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200, response.text


async def test_a_route_opted_out_needs_no_key(client: Client) -> None:
    assert (await client.get("/test/public")).status_code == 200


async def test_an_unknown_route_is_not_found_before_unauthorized(client: Client) -> None:
    assert_problem(await client.get("/v1/no/such/route"), 404, "not-found")


async def test_a_wrong_method_is_not_allowed_before_unauthorized(client: Client) -> None:
    assert_problem(await client.delete("/test/agenda"), 405, "method-not-allowed")


async def test_unauthorized_before_a_bad_body(client: Client) -> None:
    not_json = await client.post(
        "/test/programme", content=b"{nope", headers={"content-type": "application/json"}
    )
    too_large = await client.post("/test/programme", json={"name": "x" * MAX_BODY})

    assert_unauthorized(not_json)
    assert_unauthorized(too_large)


async def test_forbidden_before_a_bad_body(client: Client, keys: dict[str, str]) -> None:
    headers = {**bearer(keys["form"]), "content-type": "application/json"}

    not_json = await client.post("/test/programme", content=b"{nope", headers=headers)
    wrong_shape = await client.post("/test/programme", json={"nom": 1}, headers=headers)

    assert_problem(not_json, 403, "forbidden")
    assert_problem(wrong_shape, 403, "forbidden")


async def test_a_bad_body_with_the_right_role_is_the_body_problem(
    client: Client, keys: dict[str, str]
) -> None:
    headers = {**bearer(keys["organiser"]), "content-type": "application/json"}

    response = await client.post("/test/programme", content=b"{nope", headers=headers)

    assert_problem(response, 400, "malformed-request")


async def test_cli_keys_create_prints_a_key_that_authenticates(
    client: Client, database_url: str, redis_url: str
) -> None:
    org = f"cli-{uuid.uuid4().hex[:8]}"

    result = await asyncio.to_thread(
        run_cli,
        *("keys", "create", "--role", "form", "--org", org),
        database_url=database_url,
        redis_url=redis_url,
    )

    assert result.returncode == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    assert KEY_PATTERN.fullmatch(key), result.stdout
    response = await client.get("/test/agenda", headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.json() == {"organisation": org, "role": "form"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "admin"), "unknown role 'admin': choose one of organiser, form, auditor"),
        (("--role", "form", "--org", "Not A Slug"), "invalid organisation"),
    ],
)
async def test_cli_keys_create_refuses_a_bad_role_or_organisation(
    database_url: str, redis_url: str, args: tuple[str, ...], message: str
) -> None:
    result = await asyncio.to_thread(
        run_cli, "keys", "create", *args, database_url=database_url, redis_url=redis_url
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
