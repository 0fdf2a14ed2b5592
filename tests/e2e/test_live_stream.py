"""`GET /v1/events/{event}/live` over real HTTP: the messages, resumption with `Last-Event-ID`,
heartbeats, the problems answered before a stream starts, and streams ended by the app's
shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from registry.live import stream as live_stream
from tests.support.api import Api
from tests.support.served import Served, served_api
from tests.support.sse import messages, next_update

LIVE = "/v1/events/almelo/live"
WITHIN_S = 10.0


@pytest.fixture
async def served(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Served]:
    async with served_api(fresh_database_url, redis_url, redis_prefix) as served:
        yield served


@pytest.fixture
async def api(served: Served) -> AsyncIterator[Api]:
    """The usual helpers (tests/support/api.py), over HTTP; an event with three sessions."""
    async with served.client() as client:
        api = Api(client, "", served.keys)  # type: ignore[arg-type]
        await api.create_event()
        await api.room("hall", 2)
        await api.room("attic", 5)
        assert (await api.session("talk", "hall")).status_code == 201
        assert (await api.session("walk", "attic")).status_code == 201
        late = await api.session("late", "hall", "16:00", "17:00")
        assert late.status_code == 201
        # The read models hold the programme before a stream opens, so that its first message
        # is past it and every later one names only what changed since (the projector lingers
        # after a commit: projections/runner.py, LINGER_S).
        path = f"/v1/events/almelo/occupancy?after={late.json()['position']}"
        caught_up = await client.get(path, headers=served.as_("organiser"))
        assert caught_up.status_code == 200
        yield api


async def _signed(api: Api, participant: str, session: str) -> int:
    answer = await api.sign_up(participant, session)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["position"])


def _headers(served: Served, last_event_id: int | None = None) -> dict[str, str]:
    resume = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    return {**served.as_("organiser"), **resume}


async def test_the_first_message_holds_every_session_then_each_change_follows(
    served: Served, api: Api
) -> None:
    async with (
        served.client() as client,
        client.stream("GET", LIVE, headers=_headers(served)) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["cache-control"].startswith("no-cache")
        stream = messages(answer)
        async with asyncio.timeout(WITHIN_S):
            first = await next_update(stream)
            assert first.event == "occupancy"
            assert first.data["complete"] is True
            assert int(first.id or 0) == first.data["position"]
            rows = {row["session_id"]: row for row in first.data["sessions"]}
            assert set(rows) == {"talk", "walk", "late"}
            assert (rows["talk"]["seated"], rows["talk"]["capacity"]) == (0, 2)

            # Two sign-ups and a third that queues: each message names only what changed.
            people = [await api.participant(name) for name in ("ann", "bob", "cy")]
            for person in people:
                await _signed(api, person, "talk")
            seen: dict[str, object] = {}
            last = int(first.id or 0)
            while seen.get("talk") != (2, 1):
                update = await next_update(stream)
                assert int(update.id or 0) > last, "ids are log positions, increasing"
                last = int(update.id or 0)
                assert update.data["complete"] is False
                assert {row["session_id"] for row in update.data["sessions"]} <= {"talk"}
                for row in update.data["sessions"]:
                    seen[row["session_id"]] = (row["seated"], row["waitlisted"])
        # The read models had applied the message's position: reads `?after=` it answer now.
        read = await client.get(
            f"/v1/events/almelo/sessions/talk/waitlist?after={last}",
            headers=served.as_("organiser"),
        )
        assert [item["participant_id"] for item in read.json()["items"]] == [people[2]]


async def test_resuming_after_a_position_sends_exactly_what_changed_after_it(
    served: Served, api: Api
) -> None:
    ann, bob = await api.participant("ann"), await api.participant("bob")
    after_talk = await _signed(api, ann, "talk")
    after_walk = await _signed(api, bob, "walk")
    await _signed(api, ann, "late")

    async with served.client() as client:
        headers = _headers(served, after_talk)
        async with client.stream("GET", LIVE, headers=headers) as answer:
            assert answer.status_code == 200
            async with asyncio.timeout(WITHIN_S):
                update = await next_update(messages(answer))
        assert update.data["complete"] is False
        assert sorted(row["session_id"] for row in update.data["sessions"]) == ["late", "walk"]
        assert update.data["facts"] == ["SeatAssigned"]
        assert int(update.id or 0) >= after_walk + 1

        # From the last id on: nothing is sent again until something changes, then only that.
        last = int(update.id or 0)
        async with client.stream("GET", LIVE, headers=_headers(served, last)) as answer:
            stream = messages(answer)
            async with asyncio.timeout(WITHIN_S):
                assert (await anext(stream)).retry == live_stream.RETRY_MS
                cancelled = await api.client.delete(
                    f"/v1/events/almelo/participants/{bob}/signups/walk",
                    headers=served.as_("form"),
                )
                assert cancelled.status_code == 200
                update = await next_update(stream)
        assert update.data["facts"] == ["SeatReleased"]
        [walk] = update.data["sessions"]
        assert (walk["session_id"], walk["seated"]) == ("walk", 0)
        assert int(update.id or 0) == cancelled.json()["position"]


async def test_a_programme_change_sends_every_session(served: Served, api: Api) -> None:
    async with served.client() as client:
        first_position = await _current_position(client, served)
        closed = await api.post("/v1/events/almelo/registration/close", {}, "organiser")
        assert closed.status_code == 200
        headers = _headers(served, first_position)
        async with client.stream("GET", LIVE, headers=headers) as answer:
            async with asyncio.timeout(WITHIN_S):
                update = await next_update(messages(answer))
    assert update.data["complete"] is True
    assert update.data["facts"] == ["RegistrationClosed"]
    assert {row["session_id"] for row in update.data["sessions"]} == {"talk", "walk", "late"}


async def _current_position(client: httpx.AsyncClient, served: Served) -> int:
    read = await client.get("/v1/events/almelo/occupancy", headers=served.as_("organiser"))
    return int(read.json()["position"])


async def test_heartbeats_keep_an_idle_stream_open(
    served: Served, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_stream, "HEARTBEAT_S", 0.1)
    async with (
        served.client() as client,
        client.stream("GET", LIVE, headers=_headers(served)) as answer,
    ):
        comments = []
        async with asyncio.timeout(WITHIN_S):
            async for message in messages(answer):
                comments += message.comments if message.is_comment else []
                if len(comments) >= 2:
                    break
    assert comments == ["keep-alive", "keep-alive"]


async def test_the_apps_shutdown_ends_open_streams_cleanly(served: Served, api: Api) -> None:
    """What granian does on SIGTERM: it runs the lifespan's shutdown while responses are still
    open; the live feed's part of it ends every stream, so nothing holds the worker."""
    from registry.api.live import provide_feed

    async with (
        served.client() as client,
        client.stream("GET", LIVE, headers=_headers(served)) as answer,
    ):
        stream = messages(answer)
        async with asyncio.timeout(WITHIN_S):
            await next_update(stream)
            await provide_feed(served.app.state).close()
            rest = [message async for message in stream]  # ends, without an error
    assert all(not message.data_lines for message in rest)


#: (role, organisation, path, extra headers) -> (status, problem slug)
PROBLEMS = [
    ((None, "acme", LIVE, {}), (401, "unauthorized")),
    (("form", "acme", LIVE, {}), (403, "forbidden")),
    (("auditor", "acme", LIVE, {}), (403, "forbidden")),
    (("organiser", "other", LIVE, {}), (404, "not-found")),
    (("organiser", "acme", "/v1/events/nowhere/live", {}), (404, "not-found")),
    (("organiser", "acme", LIVE, {"Last-Event-ID": "twelve"}), (422, "validation-failed")),
    (("form", "acme", LIVE, {"Last-Event-ID": "twelve"}), (403, "forbidden")),
]


async def test_problems_are_answered_before_any_stream_starts(served: Served, api: Api) -> None:
    async with served.client() as client:
        for (role, org, path, headers), expected in PROBLEMS:
            auth = {} if role is None else served.as_(role, org)
            answer = await client.get(path, headers={**auth, **headers})
            assert answer.headers["content-type"].startswith("application/problem+json")
            slug = answer.json()["type"].removeprefix("/problems/")
            assert (answer.status_code, slug) == expected, (role, org, path, headers)
