"""The crowds of bench/signup_http.py: programmes, participants, (participant, session) pairs.

Everything is decided here, before any server runs, so that the product and both baselines are
sent exactly the same requests in the same order.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import httpx

from bench.http_load import Request

DATE = "2024-01-11"
OFFSET = "+01:00"  # Europe/Amsterdam in January


@dataclass(frozen=True)
class Session:
    id: str
    room: str
    capacity: int
    start: str  # "HH:MM", local time on DATE
    end: str


@dataclass(frozen=True)
class Plan:
    name: str
    event: str
    rooms: dict[str, int]  # room id -> capacity
    sessions: list[Session]
    participants: list[str]
    pairs: list[tuple[str, str]]  # (participant, session) in sending order

    def registrations(self) -> list[Request]:
        return [
            Request(
                "POST",
                f"/v1/events/{self.event}/participants",
                json.dumps({"id": p, "name": f"Participant {p}", "email": f"{p}@example.org"}),
            )
            for p in self.participants
        ]

    def sign_ups(self) -> list[Request]:
        return [
            Request(
                "POST",
                f"/v1/events/{self.event}/participants/{p}/signups",
                json.dumps({"session_id": s}),
            )
            for p, s in self.pairs
        ]

    def capacities(self) -> dict[str, int]:
        return {s.id: s.capacity for s in self.sessions}


def flash_crowd(participants: int = 2000, seats: int = 100) -> Plan:
    """Everyone at once for one session: the worst case for a row lock (one row, one queue)."""
    people = [f"f{i:05d}" for i in range(participants)]
    return Plan(
        name="flash crowd",
        event="flash",
        rooms={"hall": seats},
        sessions=[Session("keynote", "hall", seats, "09:00", "10:00")],
        participants=people,
        pairs=[(p, "keynote") for p in people],
    )


ROUNDS = (("09:00", "10:00"), ("10:30", "11:30"), ("12:00", "13:00"), ("13:30", "14:30"))
PARALLEL = 10


def broad_crowd(participants: int, seed: int = 7) -> Plan:
    """4 rounds of 10 sessions at the same time; each participant picks one session a round.

    Seats are enough for everyone if choices were even (N/10 a session), but they are not: the
    first session of a round is chosen twice as often as the last, so the popular ones fill up
    and waitlist while the others keep seats free, as at a real conference. The pairs go round by
    round (everyone's first choice, then everyone's second, ...), participants shuffled within a
    round, so that at any time ten sessions are being filled in parallel.
    """
    capacity = max(1, participants // PARALLEL)
    rooms = {f"room-{k + 1:02d}": capacity for k in range(PARALLEL)}
    sessions = [
        Session(f"r{r + 1}-s{k + 1:02d}", f"room-{k + 1:02d}", capacity, start, end)
        for r, (start, end) in enumerate(ROUNDS)
        for k in range(PARALLEL)
    ]
    people = [f"b{i:06d}" for i in range(participants)]
    weights = [2 * PARALLEL - k for k in range(PARALLEL)]  # 20 for the first ... 11 for the last
    rng = random.Random(seed)
    pairs = []
    for r in range(len(ROUNDS)):
        order = people[:]
        rng.shuffle(order)
        for p in order:
            k = rng.choices(range(PARALLEL), weights)[0]
            pairs.append((p, f"r{r + 1}-s{k + 1:02d}"))
    return Plan("broad crowd", "broad", rooms, sessions, people, pairs)


def create_programme(url: str, organiser_key: str, plan: Plan) -> None:
    """Event, rooms, sessions and open registration, through the API as an organiser would."""
    headers = {"Authorization": f"Bearer {organiser_key}"}
    base = f"/v1/events/{plan.event}"
    calls: list[tuple[str, dict[str, object]]] = [
        (
            "/v1/events",
            {"id": plan.event, "title": plan.name, "timezone": "Europe/Amsterdam", "date": DATE},
        ),
        *(
            (f"{base}/rooms", {"id": room, "name": room, "capacity": capacity})
            for room, capacity in plan.rooms.items()
        ),
        *(
            (
                f"{base}/sessions",
                {
                    "id": s.id,
                    "title": s.id,
                    "room_id": s.room,
                    "capacity": s.capacity,
                    "mode": "in_person",
                    "starts_at": f"{DATE}T{s.start}:00{OFFSET}",
                    "ends_at": f"{DATE}T{s.end}:00{OFFSET}",
                },
            )
            for s in plan.sessions
        ),
        (f"{base}/registration/open", {}),
    ]
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for path, body in calls:
            answer = client.post(path, json=body)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text}")
