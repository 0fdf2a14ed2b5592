"""Whole days from the source documents (issue 6), played through HTTP: the programme as the seed
gives it, registration, sign-ups by invented participants, the organisers' changes, and the
outcome in the answers, the reads and the agendas; each ends with the read models == a fold of
the log. Programmes and the driver: tests/support/seed_programmes.py.
"""

from __future__ import annotations

from typing import Any

from httpx import Response

from tests.support.api import Api
from tests.support.seed_programmes import (
    ALMELO,
    ALMELO_ROOMS,
    HENGELO,
    HENGELO_ONLINE,
    HENGELO_ROOMS,
    ZAANSTAD,
    ZAANSTAD_ROOMS,
    Day,
)

JOINT = "Themagroepen gezamenlijk: Woningmarkt, Wonen, Welzijn en Zorg en ZJO"
FIGURES = ("capacity", "seated", "waitlisted", "free", "over_capacity")


def refused(answer: Response, problem: str) -> dict[str, Any]:
    assert answer.status_code == 409, answer.text
    body: dict[str, Any] = answer.json()
    assert body["type"] == f"/problems/{problem}", body
    return body


def waiting(answer: Response) -> tuple[str, int | None, str | None]:
    body = answer.json()
    return body["status"], body["waitlist_position"], body["fallback_session_id"]


async def test_001_zaanstad_the_rooms_fill_up_then_registration_closes(api: Api) -> None:
    day = Day(api, "zaanstad-2023", "2023-04-13", "+02:00")
    await day.create("Tweede ambtelijke netwerkdag G40, Zaanstad", ZAANSTAD_ROOMS, ZAANSTAD)
    early, *people = day.newcomers(16)
    refused(await day.join(early), "registration-closed")  # a new event is closed until opened
    await day.org("/registration/open", {})

    # Themagroep Europa's room (12 seats) fills; the next three wait, in the order they came.
    europa = [(await day.register(p, "pbl", "europa"))[1] for p in people]
    assert europa == ["seated"] * 12 + ["waitlisted"] * 3
    assert await day.occupancy("europa", *FIGURES) == (12, 12, 3, 0, 0)
    assert await day.waitlist("europa") == [(p, n, None) for n, p in enumerate(people[12:], 1)]
    assert await day.agenda(people[14]) == (["pbl"], [("europa", 3, None)])

    # The MAAK Centrum walk is a guided group of 12 without a waitlist: the 13th is refused.
    for p in people[:12]:
        assert waiting(await day.sign_up(p, "maak-centrum"))[0] == "seated"
    head = await api.head()
    full = refused(await day.sign_up(people[12], "maak-centrum"), "session-full")
    assert full["session_id"] == "maak-centrum"
    assert await api.head() == head  # a refusal writes nothing
    assert waiting(await day.sign_up(people[12], "monet"))[0] == "seated"
    assert await day.occupancy("maak-centrum", *FIGURES) == (12, 12, 0, 0, 0)
    assert (await day.ranges())["wandelgroep-2"] == ["maak-centrum"]

    # "Registration is closed, the rooms have reached their maximum capacity."
    await day.org("/registration/close", {})
    late = day.newcomers(1)[0]
    refused(await day.join(late), "registration-closed")
    form = {"participant": day.person(late), "session_ids": ["houtbouw"]}
    refused(await day.send("POST", "/registrations", form), "registration-closed")
    refused(await day.sign_up(people[0], "houtbouw"), "registration-closed")
    refused(await day.sign_up(people[13], "europa"), "registration-closed")  # before already-...
    head = await api.head()
    await day.org("/registration/close", {})
    assert await api.head() == head  # closing a closed event writes nothing

    # Cancellations still work and give the freed seat to the head of the queue.
    left = await day.leave(people[3], "europa")
    assert left.status_code == 200, left.text
    assert left.json()["promoted"] == [people[12]]
    assert await day.waitlist("europa") == [(people[13], 1, None), (people[14], 2, None)]
    gone = await day.send("DELETE", f"/participants/{people[5]}")  # a whole registration
    assert gone.status_code == 200, gone.text
    seated = [*people[:3], people[4], *people[6:12], people[12], people[13]]
    assert await day.attendees("europa") == seated  # in the order the seats were given
    assert await day.occupancy("maak-centrum", "seated", "free") == (11, 1)
    assert await day.agenda(people[12]) == (["pbl", "monet", "europa"], [])

    # Reopened: a newcomer waits behind those already waiting.
    await day.org("/registration/open", {})
    assert await day.register(late, "europa") == ["waitlisted"]
    assert await day.waitlist("europa") == [(people[14], 1, None), (late, 2, None)]
    assert await day.conflicts() == []
    await day.check_against_the_log()


async def test_002_almelo_the_bus_fills_and_theme_groups_merge_into_a_joint_session(
    api: Api,
) -> None:
    day = Day(api, "almelo-2024", "2024-01-11", "+01:00")
    await day.create("Ambtelijke netwerkdag Almelo", ALMELO_ROOMS, ALMELO)
    await day.org("/registration/open", {})

    # The bus to De Hagedoorn (8 seats) fills and a queue forms; the last one holds a seat on
    # the coach to Indië (the same hours) as a fallback while waiting for the bus.
    *riders, last = day.newcomers(10)
    bus = [(await day.register(p, "plenair", "hagedoorn"))[1] for p in riders]
    assert bus == ["seated"] * 8 + ["waitlisted"]
    assert await day.register(last, "plenair", "indie") == ["seated", "seated"]
    assert waiting(await day.sign_up(last, "hagedoorn")) == ("waitlisted", 2, "indie")
    assert await day.occupancy("hagedoorn", *FIGURES) == (8, 8, 2, 0, 0)
    assert await day.waitlist("hagedoorn") == [(riders[8], 1, None), (last, 2, "indie")]
    assert (await day.leave(riders[0], "hagedoorn")).json()["promoted"] == [riders[8]]
    assert (await day.leave(riders[1], "hagedoorn")).json()["promoted"] == [last]
    assert await day.agenda(last) == (["plenair", "hagedoorn"], [])  # the coach seat is freed
    assert last not in await day.attendees("indie")

    # Rounds I and II: Woningmarkt (19.2, 8 seats) and Wonen, Welzijn en Zorg (1.4, 6 seats)
    # sign up in turns; one Woningmarkt member also goes to ZJO in round I.
    wwz, woning = day.newcomers(6), day.newcomers(6)
    for n, (w, m) in enumerate(zip(wwz, woning, strict=True)):
        assert await day.register(w, "r1-europa", "r2-wwz") == ["seated", "seated"]
        round_one = "r1-zjo" if n == 1 else "r1-economie"
        assert await day.register(m, round_one, "r2-woningmarkt") == ["seated", "seated"]
    late_wwz, *zjo = day.newcomers(3)
    assert await day.register(late_wwz, "r2-wwz") == ["waitlisted"]
    for z in zjo:
        assert await day.register(z, "r1-zjo") == ["seated"]

    # The two theme groups hold a joint session: WWZ merges into Woningmarkt (2 seats free).
    merged = (await day.org("/sessions/r2-wwz/merge", {"into": "r2-woningmarkt"})).json()
    assert merged["moved"] == wwz[:2]  # in the order of their sign-up
    assert merged["waitlisted"] == [*wwz[2:], late_wwz]  # the rest, then WWZ's own queue
    joint_seats = [wwz[0], woning[0], wwz[1], *woning[1:]]  # a moved seat keeps its seated_at
    assert await day.attendees("r2-woningmarkt") == joint_seats
    cancelled = refused(await day.sign_up(zjo[0], "r2-wwz"), "session-cancelled")
    assert cancelled["merged_into"] == "r2-woningmarkt"

    # Someone in Circulair bouwen waits for the full joint session, keeping that seat.
    fallback = day.newcomers(1)[0]
    assert await day.register(fallback, "r2-circulair") == ["seated"]
    assert waiting(await day.sign_up(fallback, "r2-woningmarkt")) == (
        "waitlisted", 6, "r2-circulair",
    )  # fmt: skip
    assert await day.agenda(fallback) == (
        ["r2-circulair"], [("r2-woningmarkt", 6, "r2-circulair")],
    )  # fmt: skip

    # ZJO joins too (its round I meeting merges in): the one seated in both keeps one seat;
    # the others queue after those already waiting.
    joined = (await day.org("/sessions/r1-zjo/merge", {"into": "r2-woningmarkt"})).json()
    assert (joined["moved"], joined["waitlisted"], joined["promoted"]) == ([], zjo, [])
    queue = [*wwz[2:], late_wwz, fallback, *zjo]
    assert await day.waitlist("r2-woningmarkt") == [
        (p, n, "r2-circulair" if p == fallback else None) for n, p in enumerate(queue, 1)
    ]
    assert await day.attendees("r2-woningmarkt") == joint_seats
    assert await day.agenda(woning[1]) == (["r2-woningmarkt"], [])
    for sid in ("r2-wwz", "r1-zjo"):
        assert await day.occupancy(sid, "state", "seated", "waitlisted") == ("merged", 0, 0)

    # The joint session takes the seed's title and the larger room 19.1: the queue moves in,
    # in order; the fallback's seat in Circulair bouwen is released.
    body = {"title": JOINT, "room_id": "zaal-19-1"}
    moved = (await day.org("/sessions/r2-woningmarkt", body, "PATCH")).json()
    assert (moved["promoted"], moved["over_capacity"], moved["conflicts"]) == (queue, 0, [])
    assert await day.occupancy("r2-woningmarkt", "title", "room_id", *FIGURES) == (
        JOINT, "zaal-19-1", 22, 16, 0, 6, 0,
    )  # fmt: skip
    assert await day.attendees("r2-woningmarkt") == joint_seats + queue
    assert await day.agenda(fallback) == (["r2-woningmarkt"], [])
    assert fallback not in await day.attendees("r2-circulair")
    ranges = await day.ranges()  # merged sessions no longer use their rooms
    assert [ranges[r] for r in ("zaal-19-1", "zaal-19-2", "zaal-1-4", "atelier")] == [
        ["r2-woningmarkt"], ["r1-netcongestie"], ["r1-asiel"], ["r2-circulair"],
    ]  # fmt: skip
    assert await day.conflicts() == []
    await day.check_against_the_log()


async def test_004_hengelo_the_day_is_cancelled_and_the_meetings_go_online(api: Api) -> None:
    day = Day(api, "hengelo-2020", "2020-09-24", "+02:00")
    await day.create("Bestuurlijke netwerkdag G40, Hengelo", HENGELO_ROOMS, HENGELO)
    await day.org("/registration/open", {})

    # As planned: the Sociale Pijler (10 seats) fills; one waits plainly, one holding a seat in
    # the Fysieke pijler at the same hours.
    *social, switcher = day.newcomers(12)
    pillar = [(await day.register(p, "plenair", "sociale-pijler"))[1] for p in social]
    assert pillar == ["seated"] * 10 + ["waitlisted"]
    assert await day.register(switcher, "plenair", "fysieke-pijler") == ["seated", "seated"]
    assert waiting(await day.sign_up(switcher, "sociale-pijler")) == (
        "waitlisted", 2, "fysieke-pijler",
    )  # fmt: skip

    # The day cannot go ahead in Hengelo: everything goes online, unlimited; seats are kept,
    # the queues promoted (the fallback seat released), the rooms released.
    online = (await day.org("/go-online", {"reason": "the day in Hengelo is cancelled"})).json()
    assert online["promoted"] == [social[10], switcher]
    for sid, seated in (("plenair", 12), ("sociale-pijler", 12), ("fysieke-pijler", 0)):
        assert await day.occupancy(sid, "room_id", *FIGURES) == (None, None, seated, 0, None, 0)
    assert await day.ranges() == {"theater": [], "zaal-a": [], "zaal-b": []}
    assert await day.agenda(switcher) == (["plenair", "sociale-pijler"], [])

    # The theme groups meet online at their own times, without a room, overlapping.
    for sid, title, start, end in HENGELO_ONLINE:
        new = day.session(sid, title, start, end, None, {})
        assert (await day.send("POST", "/sessions", new, "organiser")).status_code == 201

    # 10.00-11.00 overlaps the plenary held (10.00-11.30): refused unless it replaces it;
    # 11.10-12.10 does not overlap 10.00-11.00 and seats too.
    a, c, d = social[0], *day.newcomers(2)
    clash = refused(await day.sign_up(a, "wwz"), "time-conflict")
    assert clash["conflicting_session_id"] == "plenair"
    assert waiting(await day.sign_up(a, "wwz", replaces="plenair"))[0] == "seated"
    assert waiting(await day.sign_up(a, "zjo"))[0] == "seated"
    assert await day.agenda(a) == (["wwz", "zjo", "sociale-pijler"], [])
    assert a not in await day.attendees("plenair")
    # 10.00-11.30 overlaps both meetings held: replacing one of them is not enough.
    refused(await day.sign_up(a, "duurzaamheid"), "time-conflict")
    clash = refused(await day.sign_up(a, "duurzaamheid", replaces="wwz"), "time-conflict")
    assert clash["conflicting_session_id"] == "zjo"
    # In the afternoon, 13.30-15.00 against 13.20-14.20, switched in one step.
    assert await day.register(c, "armoede") == ["seated"]
    refused(await day.sign_up(c, "veiligheid"), "time-conflict")
    assert waiting(await day.sign_up(c, "veiligheid", replaces="armoede"))[0] == "seated"
    assert (await day.attendees("armoede"), await day.attendees("veiligheid")) == ([], [c])

    # ZJO starts at 11.00: ranges are half-open, so 10.00-11.00 and 11.00-12.00 do not overlap.
    times = {"starts_at": day.at("11:00"), "ends_at": day.at("12:00")}
    assert (await day.org("/sessions/zjo", times, "PATCH")).json()["conflicts"] == []
    assert await day.register(d, "wwz", "zjo") == ["seated", "seated"]
    # Then at 10.30: whoever holds both now holds overlapping seats, reported to the organiser.
    times = {"starts_at": day.at("10:30"), "ends_at": day.at("11:30")}
    moved = (await day.org("/sessions/zjo", times, "PATCH")).json()
    assert moved["conflicts"] == sorted([a, d])
    assert await day.conflicts() == [(p, ["wwz", "zjo"]) for p in sorted([a, d])]
    await day.check_against_the_log()

    # Finally the whole event is cancelled: everything is released; sign-ups are refused.
    cancelled = (await day.org("/cancel", {"reason": "no meetings on this day after all"})).json()
    assert sorted(set(cancelled["released"])) == sorted([*social, switcher, c, d])
    for row in (await day.read("/occupancy"))["sessions"]:
        assert (row["state"], row["seated"], row["waitlisted"]) == ("cancelled", 0, 0), row
    refused(await day.sign_up(social[1], "wwz"), "event-cancelled")
    refused(await day.join(day.newcomers(1)[0]), "event-cancelled")
    refused(
        await day.send("POST", "/go-online", {"reason": "again"}, "organiser"), "event-cancelled"
    )
    assert await day.agenda(a) == ([], [])
    assert await day.conflicts() == []
    await day.check_against_the_log()
