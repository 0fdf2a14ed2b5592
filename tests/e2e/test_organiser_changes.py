"""Organisers change the programme under the rules of DESIGN.md section 1, through HTTP: capacity
and room, reschedule, cancel, merge, the registration window, the event cancelled or online."""

from __future__ import annotations

import asyncio
from typing import Any

from httpx import Response

from tests.support.api import Api

EV = "/v1/events/almelo"


async def patch(api: Api, session: str, body: dict[str, Any]) -> Response:
    return await api.client.patch(
        f"{EV}/sessions/{session}", json=body, headers=api.as_("organiser")
    )


async def org(api: Api, path: str, body: dict[str, Any]) -> Response:
    return await api.post(f"{EV}{path}", body, "organiser")


async def leave(api: Api, participant: str, session: str) -> Response:
    return await api.client.delete(
        f"{EV}/participants/{participant}/signups/{session}", headers=api.as_("form")
    )


async def read(api: Api, path: str, after: int) -> Any:
    answer = await api.client.get(
        f"{EV}{path}", params={"after": after}, headers=api.as_("organiser")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def occupancy(api: Api, session: str, after: int) -> dict[str, Any]:
    body = await read(api, "/occupancy", after)
    [row] = [s for s in body["sessions"] if s["session_id"] == session]
    return dict(row)


async def seat_everyone(api: Api, session: str, names: list[str]) -> list[str]:
    people = [await api.participant(n) for n in names]
    for p in people:
        assert (await api.sign_up(p, session)).status_code == 201
    return people


async def test_a_lowered_capacity_keeps_every_seat_and_admits_no_one_until_below(api: Api) -> None:
    await api.create_event()
    await api.room("zaal", 5)
    await api.session("a", "zaal")
    people = await seat_everyone(api, "a", ["p1", "p2", "p3", "p4", "p5"])
    lowered = await patch(api, "a", {"capacity": 3})
    assert lowered.status_code == 200, lowered.text
    assert lowered.json()["over_capacity"] == 2
    assert lowered.json()["promoted"] == []
    state = await occupancy(api, "a", lowered.json()["position"])
    assert (state["capacity"], state["seated"], state["over_capacity"], state["free"]) == (
        3,
        5,
        2,
        0,
    )

    late = await api.participant("late")
    queued = await api.sign_up(late, "a")
    assert queued.json()["status"] == "waitlisted"  # over capacity: no one admitted
    # Each release lowers the excess first and promotes no one while over capacity.
    assert (await leave(api, people[0], "a")).json()["promoted"] == []
    assert (await leave(api, people[1], "a")).json()["promoted"] == []
    # Now at capacity (3 of 3): the next release promotes the head of the queue.
    assert (await leave(api, people[2], "a")).json()["promoted"] == [late]


async def test_a_raised_capacity_promotes_in_ticket_order_with_the_fallback_cascade(
    api: Api,
) -> None:
    await api.create_event()
    await api.room("big", 10)
    await api.room("small", 1)
    await api.session("a", "big", capacity=1)
    await api.session("b", "small")  # same time as a
    holder, first, second, third = [await api.participant(n) for n in ("h", "f", "s", "t")]
    assert (await api.sign_up(holder, "a")).json()["status"] == "seated"
    assert (await api.sign_up(first, "b")).json()["status"] == "seated"
    fallback = (await api.sign_up(first, "a")).json()  # waits for a, keeps b as the fallback
    assert (fallback["status"], fallback["fallback_session_id"]) == ("waitlisted", "b")
    assert (await api.sign_up(second, "a")).json()["waitlist_position"] == 2
    assert (await api.sign_up(third, "b")).json()["status"] == "waitlisted"

    raised = await patch(api, "a", {"capacity": 3})
    assert raised.status_code == 200, raised.text
    # Ticket order in a; first's promotion releases b, which promotes b's head (the cascade).
    assert raised.json()["promoted"] == [first, third, second]
    assert raised.json()["over_capacity"] == 0
    after = raised.json()["position"]
    assert (await occupancy(api, "a", after))["seated"] == 3
    assert [
        i["participant_id"] for i in (await read(api, "/sessions/b/attendees", after))["items"]
    ] == [third]


async def test_a_smaller_room_takes_its_capacity_and_a_capacity_above_the_room_is_refused(
    api: Api,
) -> None:
    await api.create_event()
    await api.room("zaal", 50)
    await api.room("kamer", 2)
    await api.session("a", "zaal")
    await seat_everyone(api, "a", ["p1", "p2", "p3"])
    moved = await patch(api, "a", {"room_id": "kamer"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["over_capacity"] == 1
    state = await occupancy(api, "a", moved.json()["position"])
    assert (state["room_id"], state["capacity"]) == ("kamer", 2)
    too_big = await patch(api, "a", {"capacity": 3})
    assert too_big.status_code == 422
    assert too_big.headers["content-type"].startswith("application/problem+json")
    head = await api.head()
    unknown = await patch(api, "nope", {"capacity": 3})
    assert unknown.status_code == 404
    assert await api.head() == head  # a refusal writes nothing


async def test_a_reschedule_keeps_seats_and_reports_the_overlaps_as_conflicts(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 10)
    await api.room("r2", 10)
    await api.session("a", "r1", "14:00", "15:00")
    await api.session("b", "r2", "15:00", "16:00")
    both, only_a = await api.participant("both"), await api.participant("only-a")
    for p, s in ((both, "a"), (both, "b"), (only_a, "a")):
        assert (await api.sign_up(p, s)).json()["status"] == "seated"
    moved = await patch(
        api, "b", {"starts_at": "2024-01-11T14:30:00+01:00", "ends_at": "2024-01-11T15:30:00+01:00"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["conflicts"] == [both]
    conflicts = await read(api, "/conflicts", moved.json()["position"])
    assert [(c["participant_id"], c["session_ids"]) for c in conflicts["items"]] == [
        (both, ["a", "b"])
    ]
    told = await api.log("SELECT count(*) FROM events WHERE type = 'SeatsOverlapped'")
    assert told == 1
    # A room double booking is refused, as for a new session.
    await api.session("c", "r1", "16:00", "17:00")
    clash = await patch(api, "c", {"starts_at": "2024-01-11T14:30:00+01:00"})
    assert clash.status_code == 409
    assert clash.json()["type"] == "/problems/room-conflict"


async def test_a_cancelled_session_releases_everyone_and_refuses_sign_ups(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.room("r2", 5)
    await api.session("a", "r1")
    await api.session("b", "r2")
    seated, waiter = await api.participant("seated"), await api.participant("waiter")
    assert (await api.sign_up(seated, "a")).json()["status"] == "seated"
    assert (await api.sign_up(waiter, "b")).json()["status"] == "seated"
    assert (await api.sign_up(waiter, "a")).json()["status"] == "waitlisted"  # b is the fallback
    cancelled = await org(api, "/sessions/a/cancel", {"reason": "speaker ill"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["released"] == [waiter, seated]
    after = cancelled.json()["position"]
    state = await occupancy(api, "a", after)
    assert (state["state"], state["seated"], state["waitlisted"]) == ("cancelled", 0, 0)
    assert [
        i["participant_id"] for i in (await read(api, "/sessions/b/attendees", after))["items"]
    ] == [waiter]
    refused = await api.sign_up(await api.participant("new"), "a")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/session-cancelled"
    again = await org(api, "/sessions/a/cancel", {"reason": "twice"})
    assert again.status_code == 409


async def test_a_merge_moves_seats_in_order_then_queues_after_those_waiting(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 3)
    await api.room("r2", 3)
    await api.session("europe", "r1")
    await api.session("climate", "r2", capacity=2)
    e1, e2, e3, both = [await api.participant(n) for n in ("e1", "e2", "e3", "both")]
    c1, waits_c, waits_e = [await api.participant(n) for n in ("c1", "wc", "we")]
    for p in (e1, both, e2):
        assert (await api.sign_up(p, "europe")).json()["status"] == "seated"
    assert (await api.sign_up(c1, "climate")).json()["status"] == "seated"
    assert (await api.sign_up(waits_c, "climate")).json()["status"] == "seated"
    assert (await api.sign_up(e3, "europe")).json()["status"] == "waitlisted"
    assert (await api.sign_up(waits_e, "climate")).json()["status"] == "waitlisted"
    # Make room for one in climate: c1 leaves, waits_e is promoted. Climate: waits_c, waits_e.
    assert (await leave(api, c1, "climate")).json()["promoted"] == [waits_e]
    raised = await patch(api, "climate", {"capacity": 3})  # one free seat in climate
    assert raised.json()["promoted"] == []

    merged = await org(api, "/sessions/europe/merge", {"into": "climate"})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["moved"] == [e1]  # in the order seats were given; then climate is full
    assert body["waitlisted"] == [both, e2, e3]  # seats first, then europe's own queue
    after = body["position"]
    attendees = (await read(api, "/sessions/climate/attendees", after))["items"]
    assert [a["participant_id"] for a in attendees] == [e1, waits_c, waits_e]  # by seated_at
    queue = (await read(api, "/sessions/climate/waitlist", after))["items"]
    assert [q["participant_id"] for q in queue] == [both, e2, e3]
    europe = await occupancy(api, "europe", after)
    assert (europe["state"], europe["seated"], europe["waitlisted"]) == ("merged", 0, 0)
    refused = await api.sign_up(await api.participant("late"), "europe")
    assert refused.status_code == 409
    assert refused.json()["merged_into"] == "climate"
    into_itself = await org(api, "/sessions/climate/merge", {"into": "climate"})
    assert into_itself.status_code == 422


async def test_the_registration_window_opens_closes_and_closes_by_itself(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 5)
    await api.session("a", "r1")
    p = await api.participant("p")
    assert (await api.sign_up(p, "a")).status_code == 201
    closed = await org(api, "/registration/close", {})
    assert closed.status_code == 200
    refused = await api.sign_up(p, "a")  # the closed window comes before already-signed-up
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/registration-closed"
    assert (await leave(api, p, "a")).status_code == 200  # cancelling stays possible
    assert (await org(api, "/registration/open", {})).status_code == 200
    assert (await api.sign_up(p, "a")).status_code == 201
    # A closing time already passed closes at once; one to come is scheduled.
    scheduled = await org(api, "/registration/close", {"at": "2999-01-01T00:00:00+00:00"})
    assert scheduled.status_code == 200
    assert (await api.sign_up(await api.participant("r"), "a")).status_code == 201
    passed = await org(api, "/registration/close", {"at": "2000-01-01T00:00:00+00:00"})
    assert passed.status_code == 200
    late = await api.post(f"{EV}/participants", {"name": "x", "email": "x@example.org"})
    assert late.json()["type"] == "/problems/registration-closed"


async def test_an_event_cancelled_releases_everything_and_refuses_changes(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.session("a", "r1")
    seated, waiting = await api.participant("s"), await api.participant("w")
    await api.sign_up(seated, "a")
    await api.sign_up(waiting, "a")
    cancelled = await org(api, "/cancel", {"reason": "storm"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["released"] == [waiting, seated]
    state = await occupancy(api, "a", cancelled.json()["position"])
    assert (state["state"], state["seated"], state["waitlisted"]) == ("cancelled", 0, 0)
    refused = await api.sign_up(seated, "a")
    assert refused.json()["type"] == "/problems/event-cancelled"
    for path, body in (("/go-online", {"reason": "x"}), ("/registration/open", {})):
        answer = await org(api, path, body)
        assert answer.status_code == 409, (path, answer.text)
        assert answer.json()["type"] == "/problems/event-cancelled"


async def test_an_event_gone_online_keeps_seats_promotes_waitlists_and_takes_new_meetings(
    api: Api,
) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.session("a", "r1")
    seated, waiting = await api.participant("s"), await api.participant("w")
    await api.sign_up(seated, "a")
    assert (await api.sign_up(waiting, "a")).json()["status"] == "waitlisted"
    online = await org(api, "/go-online", {"reason": "the venue is closed"})
    assert online.status_code == 200, online.text
    assert online.json()["promoted"] == [waiting]
    state = await occupancy(api, "a", online.json()["position"])
    assert (state["capacity"], state["free"], state["over_capacity"], state["room_id"]) == (
        None,
        None,
        0,
        None,
    )
    # New online meetings at irregular, overlapping times, with no room.
    for id, start, end in (("m1", "10:00", "11:00"), ("m2", "10:00", "11:30")):
        answer = await api.session(id, None, start, end, mode="online")
        assert answer.status_code == 201, answer.text
    assert (await api.sign_up(seated, "m1")).json()["status"] == "seated"
    clash = await api.sign_up(seated, "m2")
    assert clash.json()["type"] == "/problems/time-conflict"


async def test_a_change_retried_at_once_with_its_key_has_one_effect(api: Api) -> None:
    await api.create_event()
    await api.room("zaal", 10)
    await api.session("a", "zaal", capacity=1)
    await seat_everyone(api, "a", ["p1"])
    waiting = [await api.participant(n) for n in ("w1", "w2")]
    for p in waiting:
        assert (await api.sign_up(p, "a")).json()["status"] == "waitlisted"
    headers = api.as_("organiser", **{"Idempotency-Key": "raise-a"})

    async def raise_it() -> Response:
        return await api.client.patch(f"{EV}/sessions/a", json={"capacity": 2}, headers=headers)

    first, second = await asyncio.gather(raise_it(), raise_it())
    assert first.json() == second.json()  # the same answer, position included
    assert first.json()["promoted"] == waiting[:1]
    replayed = [a.headers.get("idempotent-replayed") for a in (first, second)]
    assert replayed.count("true") == 1
    promotions = "SELECT count(*) FROM events WHERE type = 'PromotedFromWaitlist'"
    assert await api.log(promotions) == 1
    # The gate holds the log's state: the seat left is taken by w2 only after a release.
    late = await api.sign_up(await api.participant("late"), "a")
    assert late.json()["waitlist_position"] == 2
