"""The auditors' reads through HTTP (API.md "Auditor", docs/api-additions.md "Audit"): the
organisation's log paged in global order, each event with a hash an auditor can check from the
answer alone, one stream, the seals; auditor keys only, another organisation's stream 404."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import asyncpg

from registry.audit.chain import LoggedEvent, link
from registry.audit.log_reads import stream_organisation
from tests.support.api import Api

ORG_EVENTS = """
SELECT position FROM events WHERE stream_organisation(stream_id) = $1 ORDER BY position
"""


async def a_day(api: Api) -> list[str]:
    """Acme's day with three sign-ups, and another organisation's event written in between."""
    await api.create_event()
    await api.room("hall", 2)
    assert (await api.session("a", "hall")).status_code == 201
    people = [await api.participant(name) for name in ("ann", "bob")]
    other = {
        "id": "almelo",
        "title": "Elders",
        "timezone": "Europe/Amsterdam",
        "date": "2024-01-11",
    }
    assert (await api.post("/v1/events", other, "organiser", org="other")).status_code == 201
    people.append(await api.participant("cy"))
    for who in people:
        assert (await api.sign_up(who, "a")).status_code == 201
    return people


async def get(api: Api, path: str, role: str = "auditor", org: str = "acme", **params: Any) -> Any:
    # No params=: httpx would drop the query of a `next` link.
    answer = await api.client.get(path, params=params or None, headers=api.as_(role, org))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def hashed_log(api: Api, org: str = "acme") -> list[dict[str, Any]]:
    """Every page of the log, once the in-process chainer has hashed all of it."""
    deadline = time.monotonic() + 20
    while True:
        items: list[dict[str, Any]] = []
        path: str | None = "/v1/audit/log?limit=4"
        while path is not None:
            page = await get(api, path, org=org)
            assert len(page["items"]) <= 4
            items += page["items"]
            path = page["next"]
        if all(item["hash"] is not None for item in items):
            return items
        assert time.monotonic() < deadline, "the chainer did not hash the log"
        await asyncio.sleep(0.1)


def checked(item: dict[str, Any]) -> bool:
    """What an auditor does with an item: hash(prev_hash || canonical(item)) == hash."""
    event = LoggedEvent(
        position=item["position"],
        event_id=item["event_id"],
        stream_id=item["stream"],
        stream_version=item["version"],
        type=item["type"],
        schema_version=item["schema_version"],
        data=json.dumps(item["data"]),
        metadata=json.dumps(item["metadata"]),
        recorded_at=dt.datetime.fromisoformat(item["recorded_at"]),
    )
    return link(bytes.fromhex(item["prev_hash"]), event).hex() == item["hash"]


async def test_the_log_pages_in_global_order_with_hashes_an_auditor_can_check(api: Api) -> None:
    await a_day(api)
    items = await hashed_log(api)
    expected = await _positions(api, "acme")
    assert [item["position"] for item in items] == expected
    assert {stream_organisation(item["stream"]) for item in items} == {"acme"}
    assert all(checked(item) for item in items)
    assert items[0]["prev_hash"] == "0" * 64 and items[0]["prev_position"] == 0
    # The other organisation's event lies between acme's: the chain runs through it.
    others = await _positions(api, "other")
    assert any(item["prev_position"] in others for item in items)
    assert items[0]["type"] == "EventCreated" and items[0]["data"]["event_id"] == "almelo"
    assert set(items[0]) == {
        "position", "event_id", "stream", "version", "type", "schema_version", "data",
        "metadata", "recorded_at", "hash", "prev_position", "prev_hash",
    }  # fmt: skip

    # `from` is inclusive; the last page has no next; `position` is the head read.
    third = expected[2]
    page = await get(api, "/v1/audit/log", **{"from": third, "limit": 1000})
    assert [item["position"] for item in page["items"]] == expected[2:]
    assert page["next"] is None and page["position"] >= expected[-1]
    assert (await get(api, "/v1/audit/log", org="other"))["items"][0]["position"] == others[0]


async def test_one_stream_of_the_organisation(api: Api) -> None:
    ann = (await a_day(api))[0]
    stream = f"participant-acme:almelo:{ann}"
    page = await get(api, f"/v1/audit/streams/{stream}", limit=1)
    assert [item["version"] for item in page["items"]] == [1]
    assert page["next"] == f"/v1/audit/streams/{stream}?from=2&limit=1"
    rest = await get(api, page["next"])
    assert [item["version"] for item in rest["items"]] == [2]
    assert rest["items"][0]["type"] == "SeatAssigned"
    assert {item["stream"] for item in page["items"] + rest["items"]} == {stream}

    for path, org in (
        (f"/v1/audit/streams/{stream}", "other"),  # acme's stream, another organisation's key
        ("/v1/audit/streams/participant-acme:almelo:nobody", "acme"),
        ("/v1/audit/streams/no-such", "acme"),
    ):
        answer = await api.client.get(path, headers=api.as_("auditor", org))
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"] == "/problems/not-found"


async def test_audit_reads_are_for_auditors_only(api: Api) -> None:
    await api.create_event()
    for path in ("/v1/audit/log", "/v1/audit/streams/event-acme:almelo", "/v1/audit/seals"):
        for role in ("organiser", "form"):
            answer = await api.client.get(path, params={"limit": 5000}, headers=api.as_(role))
            assert answer.status_code == 403, answer.text
            assert answer.json()["type"] == "/problems/forbidden"
        assert (await api.client.get(path)).status_code == 401
    for params in ({"limit": 1001}, {"from": 0}, {"limit": 0}):
        answer = await api.client.get("/v1/audit/log", params=params, headers=api.as_("auditor"))
        assert answer.status_code == 422, answer.text


async def test_seals_are_listed(api: Api) -> None:
    await a_day(api)
    items = await hashed_log(api)
    sealed = [items[1], items[-1]]
    for item in sealed:
        await api.log(
            "INSERT INTO log_seals (position, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            item["position"],
            bytes.fromhex(item["hash"]),
        )
    page = await get(api, "/v1/audit/seals", limit=1, **{"from": sealed[0]["position"]})
    assert [(s["position"], s["hash"]) for s in page["items"]] == [
        (sealed[0]["position"], sealed[0]["hash"])
    ]
    assert page["next"] is not None
    assert page["items"][0]["sealed_at"].endswith("+00:00")


async def _positions(api: Api, org: str) -> list[int]:
    conn = await asyncpg.connect(api.database_url)
    try:
        return [row["position"] for row in await conn.fetch(ORG_EVENTS, org)]
    finally:
        await conn.close()
