"""The organisers' reads through HTTP (API.md "Reads"), from the read models the in-process
projector keeps: each read right after a command, with `?after=` its position, reflects it."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


async def read(api: Api, path: str, after: int, role: str = "organiser") -> Any:
    answer = await api.client.get(path, params={"after": after}, headers=api.as_(role))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["position"] >= after
    return body


async def test_every_read_reflects_the_command_it_follows(api: Api) -> None:
    await api.create_event()
    await api.room("hall", 2)
    await api.room("attic", 1)
    assert (await api.session("a", "hall")).status_code == 201
    assert (await api.session("b", "attic", start="14:30", end="15:30")).status_code == 201
    ann, bob, cy = [await api.participant(n) for n in ("ann", "bob", "cy")]
    for who in (ann, bob, cy):
        assert (await api.sign_up(who, "a")).status_code == 201
    waiting = await api.sign_up(cy, "b")
    assert waiting.json()["status"] == "seated"
    dave = await api.participant("dave")
    queued = await api.sign_up(dave, "b")
    assert queued.json()["status"] == "waitlisted"
    position = queued.json()["position"]

    occupancy = await read(api, "/v1/events/almelo/occupancy", position)
    by_id = {s["session_id"]: s for s in occupancy["sessions"]}
    assert [s["session_id"] for s in occupancy["sessions"]] == ["a", "b"]
    assert {k: by_id["a"][k] for k in ("capacity", "seated", "waitlisted", "free")} == {
        "capacity": 2,
        "seated": 2,
        "waitlisted": 1,
        "free": 0,
    }
    assert by_id["b"]["over_capacity"] == 0 and by_id["b"]["state"] == "open"

    attendees = await read(api, "/v1/events/almelo/sessions/a/attendees", position)
    assert [a["participant_id"] for a in attendees["items"]] == [ann, bob]
    assert attendees["items"][0]["name"] == "ann" and attendees["next"] is None

    queue = await read(api, "/v1/events/almelo/sessions/a/waitlist", position)
    assert queue["items"] == [
        {
            "participant_id": cy,
            "name": "cy",
            "erased": False,
            "waitlist_position": 1,
            "fallback_session_id": "b",  # cy's seat in b overlaps a
            "fallback_session_ids": ["b"],
        }
    ]
    rooms = await read(api, "/v1/events/almelo/rooms/occupancy", position, role="auditor")
    assert [(r["room_id"], [x["seated"] for x in r["ranges"]]) for r in rooms["items"]] == [
        ("attic", [1]),
        ("hall", [2]),
    ]
    conflicts = await read(api, "/v1/events/almelo/conflicts", position)
    assert conflicts["items"] == []

    # Ann leaves a: cy is promoted from the queue and b's seat goes to dave, one cascade.
    left = await api.client.delete(
        f"/v1/events/almelo/participants/{ann}/signups/a", headers=api.as_("form")
    )
    assert left.json()["promoted"] == [cy, dave]
    after = left.json()["position"]
    attendees = await read(api, "/v1/events/almelo/sessions/a/attendees", after)
    assert [a["participant_id"] for a in attendees["items"]] == [bob, cy]
    assert (await read(api, "/v1/events/almelo/sessions/b/waitlist", after))["items"] == []
    occupancy = await read(api, "/v1/events/almelo/occupancy", after)
    assert [(s["seated"], s["waitlisted"]) for s in occupancy["sessions"]] == [(2, 0), (1, 0)]


async def test_lists_page_with_a_next_path(api: Api) -> None:
    await api.create_event()
    await api.room("hall", 10)
    await api.session("a", "hall")
    people = [await api.participant(f"p{n}") for n in range(5)]
    last = 0
    for who in people:
        last = (await api.sign_up(who, "a")).json()["position"]
    page = await read(api, "/v1/events/almelo/sessions/a/attendees?limit=2", last)
    seen = [a["participant_id"] for a in page["items"]]
    while page["next"]:
        page = await read(api, page["next"], last)
        seen += [a["participant_id"] for a in page["items"]]
    assert seen == people


async def test_unknown_ids_roles_and_limits(api: Api) -> None:
    await api.create_event()
    await api.room("hall", 10)
    await api.session("a", "hall")
    org = api.as_("organiser")
    for path in (
        "/v1/events/nope/occupancy",
        "/v1/events/almelo/sessions/nope/attendees",
        "/v1/events/almelo/sessions/nope/waitlist",
    ):
        answer = await api.client.get(path, headers=org)
        assert answer.status_code == 404, path
        assert answer.json()["type"] == "/problems/not-found"
    other = await api.client.get(
        "/v1/events/almelo/occupancy", headers=api.as_("organiser", "other")
    )
    assert other.status_code == 404
    form = await api.client.get("/v1/events/almelo/occupancy", headers=api.as_("form"))
    assert form.status_code == 403
    too_many = await api.client.get("/v1/events/almelo/conflicts?limit=1001", headers=org)
    assert too_many.status_code == 422


async def test_a_position_not_reached_answers_503_with_retry_after(api: Api) -> None:
    await api.create_event()
    answer = await api.client.get(
        "/v1/events/almelo/occupancy", params={"after": 10**9}, headers=api.as_("organiser")
    )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["type"] == "/problems/unavailable"


async def test_a_replaced_seat_that_does_not_overlap_is_the_fallback_everywhere(api: Api) -> None:
    """API.md: with `replaces` and a full target the participant waits and the replaced seat
    becomes the fallback, overlapping or not."""
    await api.create_event()
    await api.room("hall", 1)
    await api.room("attic", 5)
    await api.session("a", "hall")
    await api.session("later", "attic", start="16:00", end="17:00")
    ann, bob = await api.participant("ann"), await api.participant("bob")
    assert (await api.sign_up(ann, "a")).json()["status"] == "seated"
    assert (await api.sign_up(bob, "later")).json()["status"] == "seated"
    waiting = await api.sign_up(bob, "a", replaces="later")
    assert waiting.json()["fallback_session_id"] == "later"
    position = waiting.json()["position"]
    agenda = await read(api, f"/v1/events/almelo/participants/{bob}", position, role="form")
    assert agenda["waitlist"] == [
        {
            "session_id": "a",
            "waitlist_position": 1,
            "fallback_session_id": "later",
            "fallback_session_ids": ["later"],
        }
    ]
    queue = await read(api, "/v1/events/almelo/sessions/a/waitlist", position)
    assert queue["items"][0]["fallback_session_ids"] == ["later"]
