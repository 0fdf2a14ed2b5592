"""Reading the outcome back, what `registry demo` prints, and the whole demo in one call."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from registry.demo.round import (
    Attempt,
    Loaded,
    Round,
    load_demo,
    sign_up_round,
)
from registry.demo.sample import (
    DemoError,
    Example,
    Target,
    _auth,
    _bounded,
    _connected,
    _expect,
    capacities,
    participant_body,
    sessions,
    time_slots,
)

# -- reading back --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionCount:
    session_id: str
    title: str
    capacity: int | None
    seated: int
    waitlisted: int


async def agendas(
    target: Target, key: str, event: str, participant_ids: Iterable[str], *, after: int = 0
) -> dict[str, dict[str, Any]]:
    """participant id -> their agenda (GET .../participants/{p}?after=), read once the log has
    reached ``after``."""
    async with _connected(target) as client:

        async def one(pid: str) -> tuple[str, dict[str, Any]]:
            answer = await client.get(
                f"/v1/events/{event}/participants/{pid}",
                params={"after": after},
                headers=_auth(key),
            )
            _expect(answer, 200, f"read the agenda of {pid}")
            return pid, dict(answer.json())

        return dict(await _bounded(one(pid) for pid in participant_ids))


def occupancy(example: Example, read: Mapping[str, Mapping[str, Any]]) -> list[SessionCount]:
    """Seats and queue places per session, counted from the participants' agendas."""
    seated: dict[str, int] = {}
    waiting: dict[str, int] = {}
    for agenda in read.values():
        for seat in agenda["seats"]:
            seated[seat["session_id"]] = seated.get(seat["session_id"], 0) + 1
        for entry in agenda["waitlist"]:
            waiting[entry["session_id"]] = waiting.get(entry["session_id"], 0) + 1
    seats = capacities(example)
    return [
        SessionCount(
            s["id"], s["title"], seats[s["id"]], seated.get(s["id"], 0), waiting.get(s["id"], 0)
        )
        for s in sessions(example)
    ]


# -- what `registry demo` prints -----------------------------------------------------------------


def summary_lines(loaded: Loaded, played: Round, counts: Sequence[SessionCount]) -> list[str]:
    lines = [
        f"loaded {loaded.event_id}: {loaded.rooms} rooms, {loaded.sessions} sessions, "
        f"registration open, {len(loaded.participant_ids)} participants",
        f"sign-ups: {played.count('sign-up', 'seated')} seated, "
        f"{played.count('sign-up', 'waitlisted')} waitlisted; "
        f"switches: {played.count('switch', 'seated')} at once, "
        f"{played.count('switch', 'waitlisted')} queued keeping their seat; "
        f"double bookings: {played.count('double-booking', 'time-conflict')} refused "
        f"(time-conflict), {played.count('double-booking', 'waitlisted')} queued; "
        f"{played.count('cancel')} seats given up and {len(played.left)} registrations "
        f"cancelled, promoting {played.promoted()} from waitlists",
        "",
        f"{'session':<24} {'seated':>7} {'of':>4} {'waiting':>8}",
    ]
    for c in counts:
        of = "-" if c.capacity is None else str(c.capacity)
        lines.append(f"{c.session_id:<24} {c.seated:>7} {of:>4} {c.waitlisted:>8}")
    return lines


def try_lines(base_url: str, event: str, keys: Mapping[str, str], example: Example) -> list[str]:
    """A few curl commands: the event, one participant's agenda, a new participant's sign-up."""
    url = base_url.rstrip("/")
    first = participant_body(1)["id"]
    last_slot = [slot for slot in time_slots(example) if len(slot) > 1][-1:]
    session = last_slot[0][-1] if last_slot else sessions(example)[0]["id"]
    json_header = "-H 'Content-Type: application/json'"

    def auth(role: str) -> str:
        return f"-H 'Authorization: Bearer {keys[role]}'"

    newcomer = json.dumps(
        {"id": "proefpersoon", "name": "Proefpersoon", "email": "proef@example.org"}
    )
    return [
        f"curl -s {url}/v1/events/{event} {auth('organiser')}",
        f"curl -s {url}/v1/events/{event}/participants/{first} {auth('form')}",
        f"curl -s -X POST {url}/v1/events/{event}/participants {auth('form')} {json_header} "
        f"-d '{newcomer}'",
        f"curl -s -X POST {url}/v1/events/{event}/participants/proefpersoon/signups "
        f"{auth('form')} {json_header} -d '{json.dumps({'session_id': session})}'",
    ]


# -- the whole demo ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Played:
    loaded: Loaded
    #: What to print: the load, the round and the occupancy it left.
    lines: list[str]
    unexpected: list[Attempt]


async def play(
    base_url: str, keys: Mapping[str, str], example: Example, *, participants: int
) -> Played:
    """Load the sample and, on a new event, run the round and count what it left; the event
    already there: nothing is written. DemoError if the API cannot be reached or refuses."""
    try:
        return await _play(base_url, keys, example, participants)
    except httpx.HTTPError as error:
        raise DemoError(f"{type(error).__name__}: {error}") from error


async def _play(
    base_url: str, keys: Mapping[str, str], example: Example, participants: int
) -> Played:
    async with _connected(base_url) as client:
        loaded = await load_demo(
            client, keys["organiser"], keys["form"], participants=participants, example=example
        )
        if loaded.already_loaded:
            line = f"{loaded.event_id} is already loaded: nothing changed"
            return Played(loaded, [line], [])
        played = await sign_up_round(
            client, keys["form"], loaded.participant_ids, event=loaded.event_id, example=example
        )
        staying = [p for p in loaded.participant_ids if p not in played.left]
        read = await agendas(
            client, keys["organiser"], loaded.event_id, staying, after=played.position
        )
    lines = summary_lines(loaded, played, occupancy(example, read))
    return Played(loaded, lines, played.unexpected())
