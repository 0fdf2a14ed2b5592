"""The crowds of bench/signup_http.py: programmes, participants, and their commands in order.

Everything is decided here, before any server runs, so that the product and both baselines are
sent exactly the same requests in the same order.
"""

from __future__ import annotations

import itertools
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
class Step:
    """One form-backend command of a crowd: a sign-up, a switch or a cancellation."""

    participant: str
    session: str
    #: A switch: sign up for `session` in place of the seat held in `replaces` (API.md).
    replaces: str | None = None
    #: A cancellation: DELETE the participant's sign-up for `session`.
    cancel: bool = False


@dataclass(frozen=True)
class Plan:
    name: str
    event: str
    rooms: dict[str, int]  # room id -> capacity
    sessions: list[Session]
    participants: list[str]
    steps: list[Step]  # in sending order

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The plain sign-ups' (participant, session), in sending order."""
        return [
            (s.participant, s.session) for s in self.steps if not s.cancel and s.replaces is None
        ]

    @property
    def switches(self) -> int:
        return sum(s.replaces is not None for s in self.steps)

    @property
    def cancellations(self) -> int:
        return sum(s.cancel for s in self.steps)

    def describe(self) -> str:
        return (
            f"{len(self.pairs):,} sign-ups, {self.switches:,} switches,"
            f" {self.cancellations:,} cancellations"
        )

    def registrations(self) -> list[Request]:
        return [
            Request(
                "POST",
                f"/v1/events/{self.event}/participants",
                json.dumps({"id": p, "name": f"Participant {p}", "email": f"{p}@example.org"}),
            )
            for p in self.participants
        ]

    def sign_ups(self, keyed: bool = False) -> list[Request]:
        """Every step as its request. With `keyed`, each with an Idempotency-Key of its own, as a
        form backend that retries safely sends them (registry then looks the key up before it
        decides)."""
        lanes = {p: i for i, p in enumerate(self.participants)}
        return [self._request(step, keyed, lanes[step.participant]) for step in self.steps]

    def _request(self, step: Step, keyed: bool, lane: int) -> Request:
        """In the participant's own lane: their commands go out in order (walk.lua)."""
        base = f"/v1/events/{self.event}/participants/{step.participant}/signups"
        key = f"{self.event}-{step.participant}-{step.session}" if keyed else ""
        if step.cancel:
            return Request("DELETE", f"{base}/{step.session}", "", key and f"{key}-cancel", lane)
        body: dict[str, str] = {"session_id": step.session}
        if step.replaces is not None:
            body["replaces"] = step.replaces
            key = key and f"{key}-switch"
        return Request("POST", base, json.dumps(body), key, lane)

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
        steps=[Step(p, "keynote") for p in people],
    )


ROUNDS = (("09:00", "10:00"), ("10:30", "11:30"), ("12:00", "13:00"), ("13:30", "14:30"))
PARALLEL = 10
ROOMS_PER_PUT = 1000  # the most one PUT .../programme takes (ReplaceProgramme's bounds)
SESSIONS_PER_PUT = 2000


SWITCHES = 0.10  # of the sign-ups, later switched (`replaces`) to another session of the round
CANCELS = 0.05  # of the sign-ups, later cancelled
#: A change goes at least this many requests after the sign-up it changes. Each participant's
#: requests go in one lane (one wrk thread, walk.lua), which sends a request only once all but
#: its connections' worth of earlier ones are answered: with fewer connections per thread than
#: the gap's share of a lane, the sign-up has been answered before its change is sent (without
#: lanes, wrk's two threads drifted apart by more than 2,000 lines: 38 cancellations overtook
#: their sign-ups in one row-lock run).
CHANGE_GAP = 2000


def broad_crowd(
    participants: int,
    seed: int = 7,
    sessions: int = PARALLEL * len(ROUNDS),
    event: str = "broad",
    prefix: str = "b",
    switches: float = SWITCHES,
    cancels: float = CANCELS,
) -> Plan:
    """4 rounds of parallel sessions; each participant picks one session a round, and some
    change their minds.

    `sessions` are spread over the 4 rounds (10 each by default; 10 make rounds of 3, 3, 2 and
    2; 10,000 make 2,500 at a time, in as many rooms). Seats are enough for everyone if choices
    were even (N / sessions in the round, at least 1), but they are not: the first session of a
    round is chosen twice as often as the last, so the popular ones fill up and waitlist while
    the others keep seats free, as at a real conference. The sign-ups go round by round
    (everyone's first choice, then everyone's second, ...), participants shuffled within a
    round, so that at any time a round's sessions are being filled in parallel. `event` and
    `prefix` (of participant ids) let several crowds live side by side (bench/sweep.py).

    Mixed in, at random places at least CHANGE_GAP requests after the sign-up they change: a
    `switches` share of the sign-ups is switched to another session of the same round (drawn
    with the same weights; `replaces` names the first, so one whose first sign-up was
    waitlisted, and not promoted since, is answered 422, as API.md says), and a `cancels` share
    is cancelled (a seat given back promotes that session's waitlist). Those come from a random
    generator of their own: the sign-ups are the same with any shares.
    """
    per_round = [sessions // len(ROUNDS) + (r < sessions % len(ROUNDS)) for r in range(len(ROUNDS))]
    width = max(2, len(str(max(per_round))))
    capacities = [max(1, participants // max(n, 1)) for n in per_round]
    rooms = {
        f"room-{k + 1:0{width}d}": max(
            c for n, c in zip(per_round, capacities, strict=True) if n > k
        )
        for k in range(max(per_round))
    }
    plan_sessions = [
        Session(f"r{r + 1}-s{k + 1:0{width}d}", f"room-{k + 1:0{width}d}", capacities[r], *times)
        for r, times in enumerate(ROUNDS)
        for k in range(per_round[r])
    ]
    people = [f"{prefix}{i:06d}" for i in range(participants)]
    rng = random.Random(seed)
    pairs = []
    picks = []  # each pair's (round, session count, cumulative weights)
    for r, count in enumerate(per_round):
        if not count:
            continue
        # 2n for the first ... n+1 for the last; cumulated once (same draws as weights=...)
        cum = list(itertools.accumulate(2 * count - k for k in range(count)))
        order = people[:]
        rng.shuffle(order)
        for p in order:
            k = rng.choices(range(count), cum_weights=cum)[0]
            pairs.append((p, f"r{r + 1}-s{k + 1:0{width}d}"))
            picks.append((r, count, cum))
    steps = [Step(p, s) for p, s in pairs]
    changes: list[tuple[int, Step]] = []  # (index in steps to go before, change)
    later = random.Random(seed + 1)
    for i, ((p, s), (r, count, cum)) in enumerate(zip(pairs, picks, strict=True)):
        if i + CHANGE_GAP > len(pairs):
            break
        u = later.random()
        if u < switches and count > 1:
            target = s
            while target == s:
                k = later.choices(range(count), cum_weights=cum)[0]
                target = f"r{r + 1}-s{k + 1:0{width}d}"
            change = Step(p, target, replaces=s)
        elif switches <= u < switches + cancels:
            change = Step(p, s, cancel=True)
        else:
            continue
        changes.append((later.randint(i + CHANGE_GAP, len(pairs)), change))
    changes.sort(key=lambda c: c[0])
    mixed: list[Step] = []
    at = 0
    for i, step in enumerate(steps):
        while at < len(changes) and changes[at][0] == i:
            mixed.append(changes[at][1])
            at += 1
        mixed.append(step)
    mixed.extend(change for _, change in changes[at:])
    return Plan("broad crowd", event, rooms, plan_sessions, people, mixed)


def create_programme(url: str, organiser_key: str, plan: Plan) -> None:
    """Event, rooms, sessions and open registration, through the API as an organiser would: the
    programme by PUT .../programme, in as many calls as its bounds need (one for a few rooms)."""
    headers = {"Authorization": f"Bearer {organiser_key}"}
    base = f"/v1/events/{plan.event}"
    rooms: list[dict[str, object]] = [
        {"id": room, "name": room, "capacity": capacity} for room, capacity in plan.rooms.items()
    ]
    sessions: list[dict[str, object]] = [
        {
            "id": s.id,
            "title": s.id,
            "room_id": s.room,
            "capacity": s.capacity,
            "mode": "in_person",
            "starts_at": f"{DATE}T{s.start}:00{OFFSET}",
            "ends_at": f"{DATE}T{s.end}:00{OFFSET}",
        }
        for s in plan.sessions
    ]
    event = {"id": plan.event, "title": plan.name, "timezone": "Europe/Amsterdam", "date": DATE}
    calls: list[tuple[str, str, dict[str, object]]] = [("POST", "/v1/events", dict(event))]
    for i in range(0, len(rooms), ROOMS_PER_PUT):
        calls.append(("PUT", f"{base}/programme", {"rooms": rooms[i : i + ROOMS_PER_PUT]}))
    for i in range(0, len(sessions), SESSIONS_PER_PUT):
        chunk = sessions[i : i + SESSIONS_PER_PUT]
        calls.append(("PUT", f"{base}/programme", {"sessions": chunk}))
    calls.append(("POST", f"{base}/registration/open", {}))
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for method, path, body in calls:
            answer = client.request(method, path, json=body)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
