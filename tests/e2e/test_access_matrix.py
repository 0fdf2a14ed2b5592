"""Every endpoint with every role, and with another organisation's ids (issue 9).

The matrix is the app's own route table (Litestar's ``app.routes``): a route added without a row
here fails :func:`test_the_matrix_covers_every_route`, so none can be forgotten. For each route:

- each role the table allows gets past authentication and the guards (never 401/403, never 5xx);
  every other role gets 403 ``forbidden``;
- with a key of an allowed role of organisation "acme", the ids of organisation "other" (real ones,
  with names, e-mails, titles behind them) answer 404 ``not-found``, with nothing of theirs in the
  body, and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx
import pytest

from registry.api.app import create_app
from registry.api.problems import PROBLEM_MEDIA_TYPE
from registry.auth.principal import ROLES
from registry.domain.streams import event_stream, participant_stream
from registry.settings import Settings
from tests.support.api import Api, running_api
from tests.support.servers import ServerUrls, create_database, drop_database, unique_name

ORGANISER: Final = frozenset({"organiser"})
FORM: Final = frozenset({"organiser", "form"})
READER: Final = frozenset({"organiser", "auditor"})
ANY: Final = frozenset(ROLES)
AUDITOR: Final = frozenset({"auditor"})
E = "/v1/events/{event:str}"
S = f"{E}/sessions/{{session:str}}"
P = f"{E}/participants/{{participant:str}}"

#: (method, route path) -> the roles allowed (API.md "General" and docs/api-additions.md).
ALLOWED: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("POST", "/v1/events"): ORGANISER,
    ("POST", f"{E}/rooms"): ORGANISER,
    ("POST", f"{E}/sessions"): ORGANISER,
    ("PUT", f"{E}/programme"): ORGANISER,
    ("POST", f"{E}/registration/open"): ORGANISER,
    ("POST", f"{E}/registration/close"): ORGANISER,
    ("PATCH", S): ORGANISER,
    ("POST", f"{S}/cancel"): ORGANISER,
    ("POST", f"{S}/merge"): ORGANISER,
    ("POST", f"{E}/cancel"): ORGANISER,
    ("POST", f"{E}/go-online"): ORGANISER,
    ("POST", f"{E}/registrations"): FORM,
    ("POST", f"{E}/participants"): FORM,
    ("POST", f"{P}/signups"): FORM,
    ("DELETE", f"{P}/signups/{{session:str}}"): FORM,
    ("DELETE", P): FORM,
    ("GET", P): ANY,
    ("POST", f"{P}/erase"): ORGANISER,
    ("GET", E): READER,
    ("GET", f"{E}/occupancy"): READER,
    ("GET", f"{E}/rooms/occupancy"): READER,
    ("GET", f"{S}/attendees"): READER,
    ("GET", f"{S}/waitlist"): READER,
    ("GET", f"{E}/conflicts"): READER,
    ("GET", f"{E}/live"): ORGANISER,
    ("GET", "/v1/webhooks"): READER,
    ("POST", "/v1/webhooks"): ORGANISER,
    ("DELETE", "/v1/webhooks/{webhook:str}"): ORGANISER,
    ("GET", "/v1/webhooks/deliveries"): READER,
    ("GET", "/v1/audit/log"): AUDITOR,
    ("GET", "/v1/audit/streams/{stream:str}"): AUDITOR,
    ("GET", "/v1/audit/seals"): AUDITOR,
}
#: Routes that need no key (API.md "General", and the organisers' static page).
PUBLIC: Final = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/schema"),
    ("GET", "/schema/openapi.json"),
    ("GET", "/organiser"),
    ("GET", "/organiser/{file_path:path}"),
    ("HEAD", "/organiser/{file_path:path}"),
}
#: A valid body per command with ids in its path: API.md answers a bad body (422) before an
#: unknown id in the path (404), so only a valid body shows which the id gives.
BODIES: Final[dict[tuple[str, str], Any]] = {
    ("POST", f"{E}/rooms"): {"id": "annex", "name": "Annex", "capacity": 5},
    ("POST", f"{E}/sessions"): {
        "id": "late",
        "title": "Late",
        "starts_at": "2024-01-11T16:00:00+01:00",
        "ends_at": "2024-01-11T17:00:00+01:00",
    },
    ("PUT", f"{E}/programme"): {"rooms": [], "sessions": []},
    ("POST", f"{E}/registration/open"): {},
    ("POST", f"{E}/registration/close"): {},
    ("PATCH", S): {"title": "Renamed"},
    ("POST", f"{S}/cancel"): {"reason": "because"},
    ("POST", f"{S}/merge"): {"into": "second"},
    ("POST", f"{E}/cancel"): {"reason": "because"},
    ("POST", f"{E}/go-online"): {"reason": "because"},
    ("POST", f"{E}/registrations"): {
        "participant": {"name": "Ann Acme", "email": "ann@acme.example"},
        "session_ids": ["talk"],
    },
    ("POST", f"{E}/participants"): {"name": "Ann Acme", "email": "ann@acme.example"},
    ("POST", f"{P}/signups"): {"session_id": "talk"},
    ("POST", f"{P}/erase"): {},
}
#: What organisation "other" has; none of it may reach an "acme" key.
THEIR_EVENT_TITLE: Final = "Zorgvuldig Geheime Dag"
THEIR_NAME: Final = "Zeno Otherwise"
THEIR_EMAIL: Final = "zeno.otherwise@other.example"
THEIR_HOOK: Final = "https://other.example/hooks/zeno"
_PARAM: Final = re.compile(r"\{(\w+):\w+\}")


def route_table() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, from Litestar's own table."""
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method != "OPTIONS"  # Litestar's own CORS preflight answer, on every path
    }


GUARDED: Final = sorted(ALLOWED)
WITH_IDS: Final = sorted(key for key in ALLOWED if _PARAM.search(key[1]))


@pytest.fixture(scope="module")
async def api(
    servers: ServerUrls, template_database: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Api]:
    name = unique_name("registry_test_matrix")
    url = await create_database(servers.database_url, name, template=template_database)
    try:
        async with running_api(url, redis_url, redis_prefix) as api:
            yield api
    finally:
        await drop_database(servers.database_url, name)


@pytest.fixture(scope="module")
async def theirs(api: Api) -> dict[str, str]:
    """Organisation "other"'s event, sessions, participant with a seat, and webhook."""

    async def post(path: str, body: Any) -> httpx.Response:
        role = "form" if "/participants" in path else "organiser"
        response = await api.post(path, body, role, org="other")
        assert response.status_code in (200, 201), response.text
        return response

    event = "their-day"
    await post(
        "/v1/events",
        {
            "id": event,
            "title": THEIR_EVENT_TITLE,
            "timezone": "Europe/Amsterdam",
            "date": "2024-01-11",
        },
    )
    await post(f"/v1/events/{event}/registration/open", {})
    await post(f"/v1/events/{event}/rooms", {"id": "hall", "name": "Hall", "capacity": 10})
    for session, start in (("talk", "14"), ("second", "15")):
        body = {
            "id": session,
            "title": f"{THEIR_EVENT_TITLE} {session}",
            "room_id": "hall",
            "starts_at": f"2024-01-11T{start}:00:00+01:00",
            "ends_at": f"2024-01-11T{start}:45:00+01:00",
        }
        await post(f"/v1/events/{event}/sessions", body)
    participant = (
        await post(f"/v1/events/{event}/participants", {"name": THEIR_NAME, "email": THEIR_EMAIL})
    ).json()["participant_id"]
    await post(f"/v1/events/{event}/participants/{participant}/signups", {"session_id": "talk"})
    webhook = (await post("/v1/webhooks", {"url": THEIR_HOOK})).json()
    return {
        "event": event,
        "session": "talk",
        "participant": participant,
        "webhook": webhook["id"],
        "secret": webhook["secret"],
        "stream": participant_stream("other", event, participant),
        "event_stream": event_stream("other", event),
    }


def fill(path: str, ids: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: ids[m.group(1)], path)


async def call(api: Api, method: str, path: str, role: str, body: Any = None) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": api.as_(role)}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {} if body is None else body
    return await api.client.request(method, path, **kwargs)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert (body["type"], body["status"]) == (f"/problems/{slug}", status)
    return body


def test_the_matrix_covers_every_route() -> None:
    table = route_table()

    assert table - set(ALLOWED) - PUBLIC == set(), "a route without a row in ALLOWED or PUBLIC"
    assert set(ALLOWED) | PUBLIC <= table, "a row for a route the app no longer has"


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize("role", ROLES)
async def test_each_role_is_allowed_or_forbidden(
    api: Api, method: str, path: str, role: str
) -> None:
    # Ids nobody has: an allowed role reaches the handler (404, 422 or 200), none writes.
    target = fill(path, {name: f"nobody-{name}" for name in _PARAM.findall(path)})
    head = await api.head()

    response = await call(api, method, target, role)

    if role in ALLOWED[(method, path)]:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    else:
        body = assert_problem(response, 403, "forbidden")
        assert role in body["detail"]
        assert await api.head() == head


@pytest.mark.parametrize(("method", "path"), WITH_IDS)
async def test_another_organisations_ids_are_not_found(
    api: Api, theirs: dict[str, str], method: str, path: str
) -> None:
    role = sorted(ALLOWED[(method, path)])[0]
    target = fill(path, theirs)
    head = await api.head()

    response = await call(api, method, target, role, BODIES.get((method, path)))

    assert_problem(response, 404, "not-found")
    for secret in (THEIR_EVENT_TITLE, THEIR_NAME, THEIR_EMAIL, THEIR_HOOK, theirs["secret"]):
        assert secret not in response.text
    assert theirs["event_stream"] not in response.text
    assert await api.head() == head  # nothing written, theirs or ours
