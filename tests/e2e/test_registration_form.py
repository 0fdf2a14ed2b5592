"""A whole form in one command (POST /v1/events/{event}/registrations): all or nothing."""

from __future__ import annotations

from tests.support.api import Api

FORM = "/v1/events/almelo/registrations"


async def programme(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 1)
    await api.room("r2", 5)
    await api.session("round1-a", "r1", "14:00", "15:00")
    await api.session("round1-b", "r2", "14:00", "15:00")
    await api.session("round2", "r2", "15:00", "16:00")


async def test_a_form_registers_the_participant_and_every_sign_up_at_once(api: Api) -> None:
    await programme(api)
    taken = await api.participant("early")
    await api.sign_up(taken, "round1-a")  # round1-a is full now
    answer = await api.post(
        FORM,
        {
            "participant": {"name": "Ann", "email": "ann@example.org", "organisation": "City"},
            "session_ids": ["round1-b", "round2"],
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert [s["status"] for s in body["signups"]] == ["seated", "seated"]
    ann = body["participant_id"]
    waiting = await api.post(
        FORM,
        {
            "participant": {"name": "Bob", "email": "bob@example.org"},
            "session_ids": ["round1-a"],
        },
    )
    assert waiting.json()["signups"][0]["status"] == "waitlisted"
    assert waiting.json()["signups"][0]["waitlist_position"] == 1
    agenda = (
        await api.client.get(f"/v1/events/almelo/participants/{ann}", headers=api.as_("form"))
    ).json()
    assert [s["session_id"] for s in agenda["seats"]] == ["round1-b", "round2"]
    # One append: the participant and their seats share one transaction.
    assert (
        await api.log(
            "SELECT count(DISTINCT transaction_id) FROM events WHERE stream_id LIKE '%' || $1",
            ann,
        )
        == 1
    )


async def test_a_refused_session_refuses_the_whole_form_and_writes_nothing(api: Api) -> None:
    await programme(api)
    before = await api.head()
    answer = await api.post(
        FORM,
        {
            "participant": {"name": "Cy", "email": "cy@example.org"},
            "session_ids": ["round2", "round1-a", "round1-b"],  # a and b overlap, both free
        },
    )
    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/time-conflict"
    assert await api.head() == before
    # Every hold was released: the seats are still there for someone else.
    retry = await api.post(
        FORM,
        {
            "participant": {"name": "Cy", "email": "cy@example.org"},
            "session_ids": ["round1-a", "round2"],
        },
    )
    assert retry.status_code == 201, retry.text
    assert [s["status"] for s in retry.json()["signups"]] == ["seated", "seated"]


async def test_a_form_keeps_the_one_participant_per_e_mail_rule(api: Api) -> None:
    await programme(api)
    first = await api.post(
        FORM, {"participant": {"name": "D", "email": "d@example.org"}, "session_ids": ["round1-a"]}
    )
    assert first.status_code == 201
    again = await api.post(
        FORM, {"participant": {"name": "D2", "email": "D@Example.org"}, "session_ids": ["round1-b"]}
    )
    assert again.status_code == 409
    assert again.json()["participant_id"] == first.json()["participant_id"]
    seats = await api.log("SELECT count(*) FROM events WHERE type = 'SeatAssigned'")
    assert seats == 1
    # round1-b's hold was released: it is free for the next form.
    other = await api.post(
        FORM, {"participant": {"name": "E", "email": "e@example.org"}, "session_ids": ["round1-b"]}
    )
    assert other.json()["signups"][0]["status"] == "seated"
