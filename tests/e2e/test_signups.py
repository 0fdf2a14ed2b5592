"""Sign-ups end to end: HTTP -> gate (Redis) -> log (PostgreSQL) -> answer."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import Api
from tests.support.crowds import flash_crowd

SEATS_FOR = "SELECT count(*) FROM events WHERE type = $1 AND data->>'session_id' = $2"


@pytest.mark.slow
async def test_a_flash_crowd_gets_exactly_the_seats_and_an_ordered_waitlist(api: Api) -> None:
    # 600 for 100 seats through the in-process client, which answers one request at a time:
    # the crowd's point is contention on the gate, and bench/signup_http.py runs the 2,000.
    await flash_crowd(api, people=600, seats=100)  # asserts the answers and the log


async def test_the_fallback_cascade_happens_in_one_step(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.room("r2", 1)
    await api.session("a", "r1")
    await api.session("b", "r2")  # same time as a
    ann, bob, cy = [await api.participant(n) for n in ("ann", "bob", "cy")]
    assert (await api.sign_up(ann, "a")).json()["status"] == "seated"
    assert (await api.sign_up(bob, "b")).json()["status"] == "seated"
    waiting = (await api.sign_up(bob, "a")).json()  # a is full: bob waits, keeping b
    assert waiting["status"] == "waitlisted"
    assert waiting["waitlist_position"] == 1
    assert waiting["fallback_session_id"] == "b"
    assert (await api.sign_up(cy, "b")).json()["status"] == "waitlisted"

    cancelled = await api.client.delete(
        f"/v1/events/almelo/participants/{ann}/signups/a", headers=api.as_("form")
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["promoted"] == [bob, cy]  # bob into a, then cy into bob's b
    bob_agenda = (
        await api.client.get(f"/v1/events/almelo/participants/{bob}", headers=api.as_("form"))
    ).json()
    assert [s["session_id"] for s in bob_agenda["seats"]] == ["a"]
    assert bob_agenda["waitlist"] == []
    cy_agenda = (
        await api.client.get(f"/v1/events/almelo/participants/{cy}", headers=api.as_("auditor"))
    ).json()
    assert [s["session_id"] for s in cy_agenda["seats"]] == ["b"]
    # The cascade is one append: all its facts share one transaction.
    assert (
        await api.log(
            "SELECT count(DISTINCT transaction_id) FROM events WHERE position > $1",
            cancelled.json()["position"] - 4,
        )
        == 1
    )


async def test_cancelling_a_seat_promotes_the_head_of_the_queue(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.session("a", "r1")
    first, second, third = [await api.participant(n) for n in ("first", "second", "third")]
    for p in (first, second, third):
        await api.sign_up(p, "a")
    left = await api.client.delete(
        f"/v1/events/almelo/participants/{first}/signups/a", headers=api.as_("form")
    )
    assert left.json()["promoted"] == [second]
    third_agenda = (
        await api.client.get(f"/v1/events/almelo/participants/{third}", headers=api.as_("form"))
    ).json()
    assert third_agenda["waitlist"][0]["waitlist_position"] == 1


async def test_fifty_concurrent_repeats_of_one_command_have_one_effect(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 5)
    await api.session("a", "r1")
    ann = await api.participant("ann")
    headers = {"Idempotency-Key": "signup-ann-a"}
    answers = await asyncio.gather(
        *(
            api.post(
                f"/v1/events/almelo/participants/{ann}/signups",
                {"session_id": "a"},
                headers=headers,
            )
            for _ in range(50)
        )
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.text.replace(" ", "") for a in answers}) <= 2  # the first, and its replays
    bodies = [a.json() for a in answers]
    assert all(b == bodies[0] for b in bodies)
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) >= 49
    assert await api.log(SEATS_FOR, "SeatAssigned", "a") == 1


async def test_a_refused_answer_is_kept_and_replayed_too(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.session("a", "r1", waitlist=False)
    ann, bob = await api.participant("ann"), await api.participant("bob")
    await api.sign_up(ann, "a")
    path = f"/v1/events/almelo/participants/{bob}/signups"
    first = await api.post(path, {"session_id": "a"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 409
    assert first.json()["type"] == "/problems/session-full"
    await api.client.delete(
        f"/v1/events/almelo/participants/{ann}/signups/a", headers=api.as_("form")
    )
    again = await api.post(path, {"session_id": "a"}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 409  # the first answer, although a seat is free now
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")
    reused = await api.post(path, {"session_id": "b"}, headers={"Idempotency-Key": "k1"})
    assert reused.status_code == 422
    assert reused.json()["type"] == "/problems/idempotency-key-reused"


async def test_the_event_reads_back_with_its_programme_for_organisers_and_auditors(
    api: Api,
) -> None:
    await api.create_event()
    await api.room("r1", 30)
    await api.session("b", "r1", "15:00", "16:00")
    await api.session("a", None, "14:00", "15:00", capacity=12, mode="online")
    read = await api.client.get("/v1/events/almelo", headers=api.as_("auditor"))
    assert read.status_code == 200
    body = read.json()
    assert (body["id"], body["registration"], body["state"]) == ("almelo", "open", "scheduled")
    assert [s["session_id"] for s in body["sessions"]] == ["a", "b"]  # by start time
    assert body["sessions"][1]["capacity"] == 30  # the room's
    assert body["rooms"][0]["room_id"] == "r1"
    assert body["position"] >= 1
    assert (await api.client.get("/v1/events/almelo", headers=api.as_("form"))).status_code == 403
    other = await api.client.get("/v1/events/almelo", headers=api.as_("organiser", "other"))
    assert other.status_code == 404


async def test_the_openapi_document_names_the_key_scheme_and_every_route_of_this_scope(
    api: Api,
) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert document["security"] == [{"apiKey": []}]
    assert document["paths"]["/health"]["get"]["security"] == [{}]  # no key needed
    assert document["paths"]["/ready"]["get"]["security"] == [{}]
    for path, method in [
        ("/v1/events", "post"),
        ("/v1/events/{event}/programme", "put"),
        ("/v1/events/{event}/participants/{participant}/signups", "post"),
        ("/v1/events/{event}/registrations", "post"),
        ("/v1/events/{event}/participants/{participant}", "get"),
    ]:
        assert method in document["paths"][path], path
    signup = document["paths"]["/v1/events/{event}/participants/{participant}/signups"]["post"]
    assert "requestBody" in signup


async def test_a_read_after_a_position_waits_for_it_or_answers_503(api: Api) -> None:
    await api.create_event()
    ann = await api.participant("ann")
    head = await api.head()
    path = f"/v1/events/almelo/participants/{ann}"
    ok = await api.client.get(path, params={"after": head}, headers=api.as_("form"))
    assert ok.status_code == 200
    assert ok.json()["position"] >= head
    late = await api.client.get(path, params={"after": head + 1000}, headers=api.as_("form"))
    assert late.status_code == 503
    assert late.json()["type"] == "/problems/unavailable"
    assert late.headers["retry-after"] == "1"
