"""`?as_of=<position or time>` through HTTP (API.md "Reads", "Auditor"): the organisers' reads
replayed from the log to that point, for organisers and auditors; 422 with `after`, 503 for a
position not final yet, the time form, and paging that keeps `as_of`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from registry.api.app import create_app
from registry.auth.keys import create_key
from registry.settings import Settings
from tests.support.api import Api

EVENT = "/v1/events/almelo"


async def as_of(api: Api, path: str, when: object, role: str = "organiser", **params: Any) -> Any:
    answer = await api.client.get(
        path, params={"as_of": str(when), **params}, headers=api.as_(role)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_every_read_as_of_a_position_shows_the_state_then(api: Api) -> None:
    await api.create_event()
    before_rooms = await api.head()
    await api.room("hall", 2)
    await api.session("a", "hall")
    ann, bob, cy = [await api.participant(n) for n in ("ann", "bob", "cy")]
    seated = [(await api.sign_up(who, "a")).json()["position"] for who in (ann, bob)]
    waiting = (await api.sign_up(cy, "a")).json()["position"]
    left = await api.client.delete(f"{EVENT}/participants/{ann}/signups/a", headers=api.as_("form"))
    assert left.json()["promoted"] == [cy]

    for role in ("organiser", "auditor"):
        then = await as_of(api, f"{EVENT}/occupancy", seated[1], role)
        assert then["position"] == seated[1]
        (a,) = then["sessions"]
        assert (a["seated"], a["waitlisted"], a["free"]) == (2, 0, 0)
    then = await as_of(api, f"{EVENT}/occupancy", waiting)
    assert (then["sessions"][0]["seated"], then["sessions"][0]["waitlisted"]) == (2, 1)
    attendees = await as_of(api, f"{EVENT}/sessions/a/attendees", waiting)
    assert [(x["participant_id"], x["name"]) for x in attendees["items"]] == [
        (ann, "ann"),
        (bob, "bob"),
    ]
    queue = await as_of(api, f"{EVENT}/sessions/a/waitlist", waiting, role="auditor")
    assert [(x["participant_id"], x["waitlist_position"]) for x in queue["items"]] == [(cy, 1)]
    rooms = await as_of(api, f"{EVENT}/rooms/occupancy", waiting)
    assert [(r["room_id"], [x["seated"] for x in r["ranges"]]) for r in rooms["items"]] == [
        ("hall", [2])
    ]
    assert (await as_of(api, f"{EVENT}/conflicts", waiting))["items"] == []
    programme = await as_of(api, EVENT, before_rooms)
    assert (programme["rooms"], programme["sessions"], programme["position"]) == (
        [],
        [],
        before_rooms,
    )
    assert [s["session_id"] for s in (await as_of(api, EVENT, waiting))["sessions"]] == ["a"]

    # As of the head, each read equals the live one.
    head = left.json()["position"]
    for path in ("occupancy", "sessions/a/attendees", "sessions/a/waitlist", "conflicts"):
        live = await api.client.get(
            f"{EVENT}/{path}", params={"after": head}, headers=api.as_("organiser")
        )
        replayed = await as_of(api, f"{EVENT}/{path}", head)
        assert live.json()["position"] == head == replayed["position"]
        assert {**live.json(), "next": None} == {**replayed, "next": None}, path


async def test_pages_keep_as_of(api: Api) -> None:
    await api.create_event()
    await api.room("hall", 10)
    await api.session("a", "hall")
    people = [await api.participant(f"p{n}") for n in range(5)]
    positions = [(await api.sign_up(who, "a")).json()["position"] for who in people]
    page = await as_of(api, f"{EVENT}/sessions/a/attendees", positions[3], limit=2)
    seen = [x["participant_id"] for x in page["items"]]
    while page["next"]:
        assert f"as_of={positions[3]}" in page["next"]
        answer = await api.client.get(page["next"], headers=api.as_("auditor"))
        page = answer.json()
        seen += [x["participant_id"] for x in page["items"]]
    assert seen == people[:4]


async def test_a_time_means_the_last_position_recorded_by_then(api: Api) -> None:
    await api.create_event()
    await api.room("hall", 1)
    await api.session("a", "hall")
    ann, bob = await api.participant("ann"), await api.participant("bob")
    first = (await api.sign_up(ann, "a")).json()["position"]
    await api.sign_up(bob, "a")  # waits
    when = await api.log("SELECT recorded_at FROM events WHERE position = $1", first)
    for moment in (when, when.astimezone(dt.timezone(dt.timedelta(hours=-5)))):
        then = await as_of(api, f"{EVENT}/occupancy", moment.isoformat())
        assert then["position"] == first
        assert (then["sessions"][0]["seated"], then["sessions"][0]["waitlisted"]) == (1, 0)
    zulu = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (await as_of(api, f"{EVENT}/occupancy", zulu))["position"] == first


async def test_as_of_problems(api: Api) -> None:
    await api.create_event()
    await api.room("hall", 1)
    await api.session("a", "hall")
    head = await api.head()
    org = api.as_("organiser")

    async def get(path: str, role: str = "organiser", **params: Any) -> Any:
        return await api.client.get(f"{EVENT}{path}", params=params, headers=api.as_(role))

    both = await get("/occupancy", as_of=head, after=head)
    assert both.status_code == 422 and both.json()["type"] == "/problems/validation-failed"
    for bad in ("yesterday", "2024-01-11T10:00:00", "-3"):
        assert (await get("/occupancy", as_of=bad)).status_code == 422, bad
    beyond = await get("/occupancy", as_of=head + 10**6)
    assert beyond.status_code == 503 and beyond.headers["retry-after"] == "1"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert (await get("/occupancy", as_of=future)).status_code == 503
    assert (await get("/occupancy", role="form", as_of=head)).status_code == 403
    assert (await get("/sessions/nope/attendees", as_of=head)).status_code == 404
    assert (await get("/occupancy", as_of=0)).status_code == 404  # no event yet at position 0
    other = await api.client.get(
        f"{EVENT}/occupancy", params={"as_of": head}, headers=api.as_("organiser", "other")
    )
    assert other.status_code == 404
    assert (await api.client.get(f"{EVENT}/conflicts?as_of={head}", headers=org)).status_code == 200


async def test_snapshots_are_written_and_used_through_the_service(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    """With snapshots every 2 facts, a query writes one as the service's database role, and a
    later query at another position answers the same as a replay without snapshots."""
    settings = Settings(
        database_url=fresh_database_url,
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}-{uuid.uuid4().hex[:8]}",
        replay_snapshot_every=2,
    )
    conn = await asyncpg.connect(fresh_database_url)
    try:
        keys = {
            f"acme:{role}": await create_key(conn, role, "acme")
            for role in ("organiser", "form", "auditor")
        }
    finally:
        await conn.close()
    async with AsyncTestClient(create_app(settings), timeout=60) as client:
        api = Api(client, fresh_database_url, keys)
        await api.create_event()
        await api.room("hall", 1)
        await api.session("a", "hall")
        people = [await api.participant(f"p{n}") for n in range(4)]
        positions = [(await api.sign_up(who, "a")).json()["position"] for who in people]
        late = await as_of(api, f"{EVENT}/sessions/a/waitlist", positions[-1], role="auditor")
        assert [x["participant_id"] for x in late["items"]] == people[1:]
        assert await api.log("SELECT count(*) FROM replay_snapshots") == 1
        earlier = await as_of(api, f"{EVENT}/sessions/a/waitlist", positions[2])
        assert [x["participant_id"] for x in earlier["items"]] == people[1:3]
        assert await api.log("SELECT count(*) FROM replay_snapshots") == 2
