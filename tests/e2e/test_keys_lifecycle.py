"""API keys' lifecycle end to end (issue 9): `registry keys create --expires-in/--expires-at`,
`registry keys list`, `registry keys revoke`, and the app refusing expired and revoked keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from registry.api.app import create_app
from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.auth.keys import KEY_PATTERN, create_key, hash_key
from registry.cli_keys import LIST_COLUMNS, expiry, parse_duration
from registry.settings import Settings
from tests.support.cli import run_cli

#: Any route needing a key; the agenda of a participant nobody has answers 404 to a valid key.
PROBE = "/v1/events/nothing-here/participants/nobody"


@pytest.fixture
async def client(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient[object]]:
    settings = Settings(
        database_url=database_url, redis_url=redis_url, pool_min_size=1, pool_max_size=2
    )
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


async def status_with(client: AsyncTestClient[object], key: str) -> int:
    response = await client.get(PROBE, headers={"Authorization": f"Bearer {key}"})
    if response.status_code == 401:
        assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        assert response.json()["type"] == "/problems/unauthorized"
    return response.status_code


async def test_create_list_revoke_through_the_cli(
    client: AsyncTestClient[object], database_url: str, redis_url: str
) -> None:
    org = f"cli-{uuid.uuid4().hex[:8]}"

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            run_cli, *args, database_url=database_url, redis_url=redis_url
        )

    before = dt.datetime.now(dt.UTC)
    created = await cli("keys", "create", "--role", "form", "--org", org, "--expires-in", "2h")
    forever = await cli("keys", "create", "--role", "auditor", "--org", org)
    assert created.returncode == 0 and forever.returncode == 0, created.stderr + forever.stderr
    key, other_key = created.stdout.splitlines()[-1], forever.stdout.splitlines()[-1]
    assert KEY_PATTERN.fullmatch(key) and KEY_PATTERN.fullmatch(other_key)
    assert await status_with(client, key) == 404  # it authenticates (nobody is there)

    listed = await cli("keys", "list", "--organisation", org)

    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split("\t") == list(LIST_COLUMNS)
    rows = [dict(zip(LIST_COLUMNS, line.split("\t"), strict=True)) for line in lines]
    assert [(r["organisation"], r["role"], r["revoked"]) for r in rows] == [
        (org, "form", "-"),
        (org, "auditor", "-"),
    ]
    expires = dt.datetime.fromisoformat(rows[0]["expires"])
    assert (
        before + dt.timedelta(hours=2) <= expires <= dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    )
    assert rows[1]["expires"] == "-"
    for secret in (key, other_key):
        for shown in (listed.stdout, listed.stderr):
            assert secret.removeprefix("rk_") not in shown
            assert hash_key(secret).hex() not in shown

    revoked = await cli("keys", "revoke", rows[1]["id"])
    again = await cli("keys", "revoke", rows[1]["id"])
    relisted = await cli("keys", "list", "--org", org)

    assert revoked.returncode == 0, revoked.stderr
    assert again.returncode == 1 and "no active key" in again.stderr
    revoked_at = relisted.stdout.splitlines()[2].split("\t")[-1]
    assert dt.datetime.fromisoformat(revoked_at) >= before
    # This process never cached the auditor key: refused at once. The form key still works.
    assert await status_with(client, other_key) == 401
    assert await status_with(client, key) == 404


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--expires-in", "1h", "--expires-at", "2999-01-01T00:00:00Z"), "not both"),
        (("--expires-at", "2000-01-01T00:00:00+01:00"), "not in the future"),
        (("--expires-at", "2999-01-01T00:00:00"), "UTC offset"),
        (("--expires-in", "soon"), "invalid duration"),
    ],
)
def test_create_refuses_a_bad_expiry_before_writing(args: tuple[str, ...], message: str) -> None:
    # The same check the command runs before it opens a connection (exit 2 then).
    with pytest.raises(ValueError, match=message):
        expiry(
            args[1] if args[0] == "--expires-in" else None,
            args[-1] if args[-2] == "--expires-at" else None,
            dt.datetime.now(dt.UTC),
        )


async def test_cli_exit_codes_for_bad_arguments(database_url: str, redis_url: str) -> None:
    bad_expiry = await asyncio.to_thread(
        run_cli,
        *("keys", "create", "--role", "form", "--expires-in", "1h", "--expires-at", "2999-01-01Z"),
        database_url=database_url,
        redis_url=redis_url,
    )
    bad_id = await asyncio.to_thread(
        run_cli, "keys", "revoke", "not-a-uuid", database_url=database_url, redis_url=redis_url
    )

    assert (bad_expiry.returncode, bad_id.returncode) == (2, 2)
    assert "not both" in bad_expiry.stderr and "invalid key id" in bad_id.stderr
    assert bad_expiry.stdout == ""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("30m", 1800), ("12h", 43200), ("90d", 7776000), ("2w", 1209600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


async def test_an_expired_key_is_unauthorized_even_when_cached(
    client: AsyncTestClient[object], database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
        key = await create_key(conn, "organiser", f"soon-{uuid.uuid4().hex[:8]}", until)
    finally:
        await conn.close()
    assert await status_with(client, key) == 404  # authenticated, and now in this app's cache

    await asyncio.sleep((until - dt.datetime.now(dt.UTC)).total_seconds() + 0.05)

    # Well within the cache's 30 s TTL: the entry did not outlive the key.
    assert await status_with(client, key) == 401
