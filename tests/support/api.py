"""A running app (in process, through ASGI) on a fresh database, with keys and helpers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from httpx import Response
from litestar.testing import AsyncTestClient


@dataclass
class Api:
    client: AsyncTestClient[Any]
    database_url: str
    keys: dict[str, str]  # "acme:organiser" -> key
    redis_url: str = ""
    redis_prefix: str = ""

    def as_(self, role: str, org: str = "acme", **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[f'{org}:{role}']}", **headers}

    async def post(self, path: str, body: Any, role: str = "form", **kw: Any) -> Response:
        headers = {**self.as_(role, kw.pop("org", "acme")), **kw.pop("headers", {})}
        return await self.client.post(path, json=body, headers=headers, **kw)

    async def log(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def head(self) -> int:
        return int(await self.log("SELECT coalesce(max(position), 0) FROM events"))

    async def create_event(self, event: str = "almelo", *, open_it: bool = True) -> None:
        body = {
            "id": event,
            "title": "Netwerkdag",
            "timezone": "Europe/Amsterdam",
            "date": "2024-01-11",
        }
        assert (await self.post("/v1/events", body, "organiser")).status_code == 201
        if open_it:
            opened = await self.post(f"/v1/events/{event}/registration/open", {}, "organiser")
            assert opened.status_code == 200

    async def room(self, id: str, capacity: int, event: str = "almelo") -> None:
        body = {"id": id, "name": id.title(), "capacity": capacity}
        assert (await self.post(f"/v1/events/{event}/rooms", body, "organiser")).status_code == 201

    async def session(
        self,
        id: str,
        room: str | None,
        start: str = "14:00",
        end: str = "15:00",
        event: str = "almelo",
        **extra: Any,
    ) -> Response:
        body = {
            "id": id,
            "title": f"Session {id}",
            "room_id": room,
            "starts_at": f"2024-01-11T{start}:00+01:00",
            "ends_at": f"2024-01-11T{end}:00+01:00",
            **extra,
        }
        return await self.post(f"/v1/events/{event}/sessions", body, "organiser")

    async def participant(self, name: str, event: str = "almelo") -> str:
        body = {"name": name, "email": f"{name}-{uuid.uuid4().hex[:6]}@example.org"}
        answer = await self.post(f"/v1/events/{event}/participants", body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["participant_id"])

    async def sign_up(
        self, participant: str, session: str, event: str = "almelo", **body: Any
    ) -> Response:
        return await self.post(
            f"/v1/events/{event}/participants/{participant}/signups",
            {"session_id": session, **body},
        )


async def create_test_keys(database_url: str) -> dict[str, str]:
    """An organiser, form and auditor key for each of two organisations ("acme", "other"),
    by "org:role": the keys every app the tests start is given."""
    from registry.auth.keys import create_key

    conn = await asyncpg.connect(database_url)
    try:
        return {
            f"{org}:{role}": await create_key(conn, role, org)
            for org in ("acme", "other")
            for role in ("organiser", "form", "auditor")
        }
    finally:
        await conn.close()


@asynccontextmanager
async def running_api(
    database_url: str, redis_url: str, redis_prefix: str, **settings: Any
) -> AsyncIterator[Api]:
    """The app on `database_url` with an organiser, form and auditor key for two organisations
    ("acme", "other"); `settings` override the test defaults."""
    from registry.api.app import create_app
    from registry.settings import Settings

    keys = await create_test_keys(database_url)
    config = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}-{uuid.uuid4().hex[:8]}",
        **{"pool_max_size": 20, **settings},
    )
    async with AsyncTestClient(create_app(config), timeout=60) as client:
        yield Api(client, database_url, keys, redis_url, config.redis_prefix)
