"""Every problem this scope can produce comes from a bad request, and writes nothing to the log.

(`session-cancelled` and `event-cancelled` need the organisers' changes of a later issue.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import Response

from tests.support.api import Api


async def programme(api: Api) -> dict[str, str]:
    await api.create_event()
    await api.room("r1", 1)
    await api.room("r2", 1)
    await api.session("a", "r1")
    await api.session("b", "r2")  # overlaps a
    await api.session("full", None, "16:00", "17:00", capacity=1, waitlist=False)
    ann, bob = await api.participant("ann"), await api.participant("bob")
    await api.sign_up(ann, "a")
    await api.sign_up(ann, "full")
    return {"ann": ann, "bob": bob}


Case = Callable[[Api, dict[str, str]], Awaitable[Response]]

CASES: list[tuple[str, int, str, Case]] = [
    (
        "not JSON",
        400,
        "malformed-request",
        lambda api, p: api.client.post(
            f"/v1/events/almelo/participants/{p['bob']}/signups",
            content=b"{nope",
            headers=api.as_("form", **{"content-type": "application/json"}),
        ),
    ),
    (
        "wrong type",
        422,
        "validation-failed",
        lambda api, p: api.post(
            "/v1/events/almelo/rooms", {"id": "r9", "name": "R", "capacity": "24"}, "organiser"
        ),
    ),
    (
        "unknown field",
        422,
        "validation-failed",
        lambda api, p: api.sign_up(p["bob"], "a", seat="window"),
    ),
    (
        "unknown session in the body",
        422,
        "validation-failed",
        lambda api, p: api.sign_up(p["bob"], "nope"),
    ),
    (
        "replaces a seat not held",
        422,
        "validation-failed",
        lambda api, p: api.sign_up(p["bob"], "a", replaces="b"),
    ),
    (
        "a time without an offset",
        422,
        "validation-failed",
        lambda api, p: api.post(
            "/v1/events/almelo/sessions",
            {
                "id": "s9",
                "title": "T",
                "room_id": "r1",
                "starts_at": "2024-01-11T18:00:00",
                "ends_at": "2024-01-11T19:00:00",
            },
            "organiser",
        ),
    ),
    (
        "capacity above the room's",
        422,
        "validation-failed",
        lambda api, p: api.session("s9", "r1", "18:00", "19:00", capacity=5),
    ),
    (
        "a long idempotency key",
        422,
        "validation-failed",
        lambda api, p: api.post(
            f"/v1/events/almelo/participants/{p['bob']}/signups",
            {"session_id": "a"},
            headers={"Idempotency-Key": "k" * 129},
        ),
    ),
    ("unknown event", 404, "not-found", lambda api, p: api.sign_up(p["bob"], "a", event="nope")),
    ("unknown participant", 404, "not-found", lambda api, p: api.sign_up("nobody", "a")),
    (
        "another organisation's event",
        404,
        "not-found",
        lambda api, p: api.post(
            f"/v1/events/almelo/participants/{p['bob']}/signups", {"session_id": "a"}, org="other"
        ),
    ),
    (
        "not signed up",
        404,
        "not-found",
        lambda api, p: api.client.delete(
            f"/v1/events/almelo/participants/{p['bob']}/signups/a", headers=api.as_("form")
        ),
    ),
    ("unknown route", 404, "not-found", lambda api, p: api.post("/v1/nowhere", {})),
    (
        "wrong method",
        405,
        "method-not-allowed",
        lambda api, p: api.client.put(
            "/v1/events/almelo/rooms", json={}, headers=api.as_("organiser")
        ),
    ),
    (
        "no key",
        401,
        "unauthorized",
        lambda api, p: api.client.post(
            f"/v1/events/almelo/participants/{p['bob']}/signups", json={"session_id": "a"}
        ),
    ),
    (
        "unknown key",
        401,
        "unauthorized",
        lambda api, p: api.client.post(
            "/v1/events", json={}, headers={"Authorization": "Bearer rk_" + "x" * 43}
        ),
    ),
    (
        "form key on the programme",
        403,
        "forbidden",
        lambda api, p: api.post(
            "/v1/events", {"id": "x", "title": "X", "timezone": "UTC", "date": "2024-01-11"}
        ),
    ),
    (
        "auditor key on a sign-up",
        403,
        "forbidden",
        lambda api, p: api.post(
            f"/v1/events/almelo/participants/{p['bob']}/signups", {"session_id": "a"}, "auditor"
        ),
    ),
    (
        "event id taken",
        409,
        "already-exists",
        lambda api, p: api.post(
            "/v1/events",
            {"id": "almelo", "title": "X", "timezone": "UTC", "date": "2024-01-11"},
            "organiser",
        ),
    ),
    (
        "e-mail taken",
        409,
        "already-exists",
        lambda api, p: api.post(
            "/v1/events/almelo/participants", {"name": "A", "email": "x@example.org"}
        ),
    ),
    ("room in use", 409, "room-conflict", lambda api, p: api.session("a2", "r1", "14:30", "15:30")),
    ("already signed up", 409, "already-signed-up", lambda api, p: api.sign_up(p["ann"], "a")),
    ("overlapping seat", 409, "time-conflict", lambda api, p: api.sign_up(p["ann"], "b")),
    ("full, no waitlist", 409, "session-full", lambda api, p: api.sign_up(p["bob"], "full")),
    (
        "too large",
        413,
        "payload-too-large",
        lambda api, p: api.post(
            "/v1/events/almelo/participants", {"name": "A" * (1024 * 1024 + 10), "email": "a@b.c"}
        ),
    ),
]


@pytest.mark.parametrize(("why", "status", "slug", "case"), CASES, ids=[c[0] for c in CASES])
async def test_a_bad_request_gets_its_problem_and_writes_nothing(
    api: Api, why: str, status: int, slug: str, case: Case
) -> None:
    people = await programme(api)
    await api.post("/v1/events/almelo/participants", {"name": "X", "email": "x@example.org"})
    before = await api.head()
    answer = await case(api, people)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == f"/problems/{slug}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert await api.head() == before, "a refused request wrote to the log"


async def test_registration_closed_refuses_new_participants(api: Api) -> None:
    await api.create_event(open_it=False)
    answer = await api.post("/v1/events/almelo/participants", {"name": "A", "email": "a@b.nl"})
    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/registration-closed"


async def test_closing_registration_stops_sign_ups_but_not_cancellations(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 5)
    await api.session("a", "r1")
    await api.session("c", None, "16:00", "17:00", capacity=3)
    ann = await api.participant("ann")
    await api.sign_up(ann, "a")
    closed = await api.post("/v1/events/almelo/registration/close", {}, "organiser")
    assert closed.status_code == 200
    refused = await api.sign_up(ann, "c")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/registration-closed"
    left = await api.client.delete(
        f"/v1/events/almelo/participants/{ann}/signups/a", headers=api.as_("form")
    )
    assert left.status_code == 200
    head = await api.head()
    again = await api.post("/v1/events/almelo/registration/close", {}, "organiser")
    assert again.status_code == 200
    assert await api.head() == head  # closing a closed event writes nothing
