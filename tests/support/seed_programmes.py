"""Programmes modelled on the source documents (/work/shared/seeds, issue 6) and a driver that
plays a whole day through HTTP (tests/e2e/test_seed_scenarios.py).

Times, rooms and titles follow the seeds; where a seed gives no capacity, a realistic one is
chosen. Every participant is invented: the names below appear in no seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from httpx import Response

from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from tests.support.api import Api
from tests.support.read_models import expected, fold, kept_details, whole_log

ORG = "acme"
FIRST = "anouk bas carmen dirk esmee fenna gerrit hidde ilse jelmer karlijn lotte mirte noor"
LAST = "ambacht brink dekker esveld hoekstra kamphuis lindeman nijhof oosting postma roelofs"

# (id, name, capacity); sessions: (id, title, starts, ends, room, extra fields)
Room = tuple[str, str, int]
Session = tuple[str, str, str, str, str | None, dict[str, Any]]

# 001: Zaanstad, Thursday 13 April 2023. Plenary, theme groups, three lunch walks, the afternoon
# theme groups and the pillars. The seed: "the rooms have reached their maximum capacity".
ZAANSTAD_ROOMS: list[Room] = [
    ("raadzaal", "Raadzaal", 150),
    ("zaal-1", "Zaal 1 (1e verdieping)", 30),
    ("zaal-2", "Zaal 2 (1e verdieping)", 30),
    ("zaal-3", "Zaal 3 (2e verdieping)", 12),
    ("zaal-4", "Zaal 4 (2e verdieping)", 16),
    ("wandelgroep-1", "Wandelgroep Monet", 20),
    ("wandelgroep-2", "Wandelgroep MAAK Centrum", 12),
    ("wandelgroep-3", "Wandelgroep Zaanse Houtbouw", 15),
]
ZAANSTAD: list[Session] = [
    ("pbl", "Ruimtelijke Verkenning 2023: vier scenario's", "10:00", "11:00", "raadzaal", {}),
    ("wwz-woningmarkt", "Themagroepen Wonen, welzijn, zorg - Woningmarkt",
     "11:15", "12:30", "zaal-1", {}),
    ("sdvm-leefomgeving", "Themagroepen Slimme duurzame verstedelijking - Leefomgeving",
     "11:15", "12:30", "zaal-2", {}),
    ("asiel", "Themagroep Vergunninghouders en asiel", "11:15", "12:30", "zaal-3", {}),
    ("zjo", "Themagroep Zorg, jeugd en onderwijs", "11:15", "12:30", "zaal-4", {}),
    ("monet", "Stadswandeling Monet", "12:30", "13:30", "wandelgroep-1", {}),
    ("maak-centrum", "Stadswandeling MAAK Centrum", "12:30", "13:30", "wandelgroep-2",
     {"waitlist": False}),
    ("houtbouw", "Stadswandeling Zaanse Houtbouw", "12:30", "13:30", "wandelgroep-3", {}),
    ("circulariteit", "Bijeenkomst Circulariteit (met Themagroep Duurzaamheid)",
     "13:45", "15:00", "zaal-1", {}),
    ("vitale-binnensteden", "Themagroep Vitale binnensteden en werklocaties",
     "13:45", "15:00", "zaal-2", {}),
    ("europa", "Themagroep Europa", "13:45", "15:00", "zaal-3", {}),
    ("sociale-pijler", "Sociale Pijler", "15:15", "16:30", "zaal-1", {}),
    ("fysieke-pijler", "Fysieke Pijler", "15:15", "16:30", "zaal-2", {}),
]  # fmt: skip

# 002: Almelo, 11 January 2024: plenary in the Grote Kerk, by bus to two site visits with lunch,
# then round I and round II in the city hall's rooms on the 1st and 19th floor.
ALMELO_ROOMS: list[Room] = [
    ("grote-kerk", "Grote Kerk", 250),
    ("touringcar", "Touringcar naar Indië Almelo", 50),
    ("busje", "Busje naar De Hagedoorn", 8),
    ("raadzaal", "Raadzaal (1e verdieping)", 80),
    ("zaal-1-1", "1.1 Ambt Almelo (1e verdieping)", 24),
    ("zaal-1-2", "1.2 Stad Almelo (1e verdieping)", 30),
    ("zaal-1-4", "1.4 (1e verdieping)", 6),
    ("zaal-19-1", "19.1 (19e verdieping)", 22),
    ("zaal-19-2", "19.2 (19e verdieping)", 8),
    ("atelier", "19 Atelier (19e verdieping)", 36),
]
ALMELO: list[Session] = [
    ("plenair", "Opening en gesprek over de verkiezingsuitslagen", "10:00", "11:30",
     "grote-kerk", {}),
    ("indie", "Werkbezoek Indië Almelo, incl. lunch", "11:30", "13:30", "touringcar", {}),
    ("hagedoorn", "Werkbezoek De Hagedoorn, incl. lunch (Pijler Sociaal)", "11:30", "13:30",
     "busje", {}),
    ("r1-coordinatoren", "G40 coördinatorenoverleg", "14:00", "15:00", "zaal-1-1", {}),
    ("r1-economie", "Pijler Economie en Werk", "14:00", "15:00", "raadzaal", {}),
    ("r1-netcongestie", "Themagroepen gezamenlijk: Woningmarkt, Duurzaamheid en Slimme "
     "duurzame verstedelijking", "14:00", "15:00", "zaal-19-2", {}),
    ("r1-zjo", "Themagroep Zorg, Jeugd en Onderwijs", "14:00", "15:00", "atelier", {}),
    ("r1-asiel", "Themagroep Vergunninghouders & Asiel", "14:00", "15:00", "zaal-1-4", {}),
    ("r1-europa", "Themagroep Europa", "14:00", "15:00", "zaal-1-2", {}),
    ("r2-twenteboard", "Twenteboard - Brede Welvaart", "15:00", "16:00", "raadzaal", {}),
    ("r2-woningmarkt", "Themagroep Woningmarkt", "15:00", "16:00", "zaal-19-2", {}),
    ("r2-wwz", "Themagroep Wonen, Welzijn en Zorg", "15:00", "16:00", "zaal-1-4", {}),
    ("r2-circulair", "Thema Circulair bouwen", "15:00", "16:00", "atelier", {}),
    ("r2-sterke-keten", "Themagroep Sterke Keten", "15:00", "16:00", "zaal-1-1", {}),
    ("r2-mkb", "Themagroep MKB Dienstverlening", "15:00", "16:00", "zaal-1-2", {}),
]  # fmt: skip

# 004: Hengelo, 24 September 2020: the administrators' day as planned, then cancelled; the
# pillars keep their afternoon, theme groups meet online at their own times.
HENGELO_ROOMS: list[Room] = [
    ("theater", "Theaterzaal", 300),
    ("zaal-a", "Commissiekamer A", 10),
    ("zaal-b", "Commissiekamer B", 10),
]
HENGELO: list[Session] = [
    ("plenair", "Bestuurlijke netwerkdag: opening en plenair", "10:00", "11:30", "theater", {}),
    ("sociale-pijler", "Sociale Pijler", "14:30", "16:00", "zaal-a", {}),
    ("fysieke-pijler", "Fysieke pijler", "14:30", "16:00", "zaal-b", {}),
]
HENGELO_ONLINE: list[tuple[str, str, str, str]] = [
    ("wwz", "Themagroep Wonen, Welzijn en Zorg", "10:00", "11:00"),
    ("duurzaamheid", "Themagroep Duurzaamheid", "10:00", "11:30"),
    ("zjo", "Themagroep Zorg, Jeugd en Onderwijs", "11:10", "12:10"),
    ("armoede", "Themagroep Armoede en Schuldhulpverlening", "13:20", "14:20"),
    ("veiligheid", "Themagroep Veiligheid", "13:30", "15:00"),
]


@dataclass
class Day:
    """One event driven through HTTP; `last` is the position of the last command answered."""

    api: Api
    event: str
    date: str
    offset: str
    last: int = 0
    _people: int = field(default=0, repr=False)

    def at(self, hhmm: str) -> str:
        return f"{self.date}T{hhmm}:00{self.offset}"

    async def send(self, method: str, path: str, body: Any = None, role: str = "form") -> Response:
        answer = await self.api.client.request(
            method, f"/v1/events/{self.event}{path}", json=body, headers=self.api.as_(role)
        )
        if answer.status_code < 300:
            self.last = max(self.last, answer.json()["position"])
        return answer

    async def org(self, path: str, body: Any, method: str = "POST") -> Response:
        answer = await self.send(method, path, body, "organiser")
        assert answer.status_code < 300, answer.text
        return answer

    async def create(self, title: str, rooms: list[Room], sessions: list[Session]) -> None:
        body = {"id": self.event, "title": title, "timezone": "Europe/Amsterdam", "date": self.date}
        created = await self.api.post("/v1/events", body, "organiser")
        assert created.status_code == 201, created.text
        await self.org(
            "/programme",
            {
                "rooms": [{"id": r, "name": n, "capacity": c} for r, n, c in rooms],
                "sessions": [self.session(*s) for s in sessions],
            },
            "PUT",
        )

    def session(self, id: str, title: str, start: str, end: str, room: str | None,
                extra: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        mode = "in_person" if room else "online"
        body = {"id": id, "title": title, "starts_at": self.at(start), "ends_at": self.at(end)}
        return {**body, "room_id": room, "mode": mode, **extra}

    def newcomers(self, n: int) -> list[str]:
        """The next n invented participants' ids (their name and e-mail follow from the id)."""
        first, last = FIRST.split(), LAST.split()
        ids = []
        for i in range(self._people, self._people + n):
            ids.append(f"{first[i % len(first)]}-{last[(i // len(first)) % len(last)]}")
        self._people += n
        return ids

    @staticmethod
    def person(pid: str) -> dict[str, str]:
        first, last = pid.split("-", 1)
        name = f"{first.title()} {last.title()}"
        return {"id": pid, "name": name, "email": f"{first}.{last}@gemeente.example.org"}

    async def join(self, pid: str) -> Response:
        return await self.send("POST", "/participants", self.person(pid))

    async def register(self, pid: str, *sessions: str) -> list[str]:
        """A whole form; the status of each sign-up."""
        body = {"participant": self.person(pid), "session_ids": list(sessions)}
        answer = await self.send("POST", "/registrations", body)
        assert answer.status_code == 201, answer.text
        return [s["status"] for s in answer.json()["signups"]]

    async def sign_up(self, pid: str, session: str, replaces: str | None = None) -> Response:
        body = {"session_id": session, **({"replaces": replaces} if replaces else {})}
        return await self.send("POST", f"/participants/{pid}/signups", body)

    async def leave(self, pid: str, session: str) -> Response:
        return await self.send("DELETE", f"/participants/{pid}/signups/{session}")

    async def read(self, path: str, role: str = "organiser") -> Any:
        """A read at the position of the last command (lists here are under one page)."""
        answer = await self.api.client.get(
            f"/v1/events/{self.event}{path}",
            params={"after": self.last},
            headers=self.api.as_(role),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def items(self, path: str) -> list[dict[str, Any]]:
        body = await self.read(path)
        assert body["next"] is None
        return list(body["items"])

    async def occupancy(self, session: str, *fields: str) -> tuple[Any, ...]:
        rows = (await self.read("/occupancy"))["sessions"]
        row = next(r for r in rows if r["session_id"] == session)
        return tuple(row[f] for f in fields)

    async def attendees(self, session: str) -> list[str]:
        return [a["participant_id"] for a in await self.items(f"/sessions/{session}/attendees")]

    async def waitlist(self, session: str) -> list[tuple[str, int, str | None]]:
        items = await self.items(f"/sessions/{session}/waitlist")
        return [(w["participant_id"], w["waitlist_position"], w["fallback_session_id"])
                for w in items]  # fmt: skip

    async def ranges(self) -> dict[str, list[str]]:
        """Each room's sessions, by start time."""
        rooms = await self.items("/rooms/occupancy")
        return {r["room_id"]: [x["session_id"] for x in r["ranges"]] for r in rooms}

    async def conflicts(self) -> list[tuple[str, list[str]]]:
        return [(c["participant_id"], c["session_ids"]) for c in await self.items("/conflicts")]

    async def agenda(self, pid: str) -> tuple[list[str], list[tuple[str, int, str | None]]]:
        body = await self.read(f"/participants/{pid}", role="form")
        waits = [(w["session_id"], w["waitlist_position"], w["fallback_session_id"])
                 for w in body["waitlist"]]  # fmt: skip
        return [s["session_id"] for s in body["seats"]], waits

    async def check_against_the_log(self) -> None:
        """Every read model, read over HTTP at the last position, == the domain's fold of the
        log (tests/support/read_models.py)."""
        occupancy = (await self.read("/occupancy"))["sessions"]
        sessions = [s["session_id"] for s in occupancy]
        live = {
            "occupancy": occupancy,
            "rooms": await self.items("/rooms/occupancy"),
            "attendees": {s: await self.items(f"/sessions/{s}/attendees") for s in sessions},
            "waitlists": {s: await self.items(f"/sessions/{s}/waitlist") for s in sessions},
            "conflicts": await self.items("/conflicts"),
        }
        pool = await asyncpg.create_pool(self.api.database_url, min_size=1, max_size=2)
        try:
            events = await whole_log(PostgresEventStore(pool, EventCodec(ALL_EVENTS)))
            details = await kept_details(pool, ORG, self.event)
        finally:
            await pool.close()
        assert live == expected(fold(events, ORG, self.event, details))
