"""A flash crowd through the HTTP API and what it must leave: exactly the seats, a waitlist in
order, every ticket once in the log. tests/e2e/test_signups.py runs it on one Redis;
tests/cluster/ on a Redis Cluster with a failover in the middle (`midway`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from registry.domain.streams import participant_stream_prefix
from tests.support.api import Api

#: The facts of one session of one event ($1: type(s), $2: session, $3: the event's streams).
SEATS_FOR = """
SELECT count(*) FROM events
 WHERE type = $1 AND data->>'session_id' = $2 AND starts_with(stream_id, $3)
"""
TICKETS = """
SELECT count(DISTINCT data->>'ticket') FROM events
 WHERE type IN ('SeatAssigned', 'Waitlisted') AND data->>'session_id' = $1
   AND starts_with(stream_id, $2)
"""
#: Participants with more than one seat or entry in the session (none, if each command was
#: appended once).
TWICE = """
SELECT count(*) FROM (
  SELECT stream_id FROM events
   WHERE type IN ('SeatAssigned', 'Waitlisted') AND data->>'session_id' = $1
     AND starts_with(stream_id, $2)
   GROUP BY stream_id HAVING count(*) > 1) twice
"""


@dataclass
class Crowd:
    answers: list[dict[str, Any]] = field(default_factory=list)
    #: (participant, position answered) of every sign-up, in the order of the answers.
    acknowledged: list[tuple[str, int]] = field(default_factory=list)
    #: How many sign-ups were answered when `midway` had finished (None: no midway).
    answered_after_midway: int | None = None


async def flash_crowd(
    api: Api,
    people: int,
    seats: int,
    *,
    session: str = "plenary",
    event: str = "almelo",
    in_flight: int = 64,
    midway: Callable[[], Awaitable[None]] | None = None,
) -> Crowd:
    """`people` register and sign up at once for one session of `seats` seats, at most
    `in_flight` requests at a time; `midway` runs once half have their answer.
    Asserts every answer and what the log holds afterwards."""
    await api.create_event(event)
    await api.room("raadzaal", seats, event)
    assert (await api.session(session, "raadzaal", event=event)).status_code == 201
    gate = asyncio.Semaphore(in_flight)
    crowd = Crowd()
    half = asyncio.Event()

    async def run_midway(hook: Callable[[], Awaitable[None]]) -> None:
        await half.wait()
        await hook()
        crowd.answered_after_midway = len(crowd.answers)

    async def one(i: int) -> None:
        async with gate:
            participant = await api.participant(f"p{i}", event)
            answer = await api.sign_up(participant, session, event)
            assert answer.status_code == 201, answer.text
            crowd.answers.append(dict(answer.json()))
            crowd.acknowledged.append((participant, int(answer.json()["position"])))
            if len(crowd.answers) >= people // 2:
                half.set()

    # With running_api the requests are answered one at a time in this thread (litestar's test
    # transport calls its portal): `midway` then runs after them. Over real HTTP
    # (tests.support.api_processes) it runs while the others' requests go on.
    during = [asyncio.create_task(run_midway(midway))] if midway is not None else []
    try:
        await asyncio.gather(*(one(i) for i in range(people)))
    finally:
        half.set()
        await asyncio.gather(*during)
    statuses = Counter(a["status"] for a in crowd.answers)
    assert statuses == {"seated": seats, "waitlisted": people - seats}
    positions = sorted(a["waitlist_position"] for a in crowd.answers if a["status"] == "waitlisted")
    assert positions == list(range(1, people - seats + 1))
    # The log agrees: the seats, the waitlist entries, no ticket given twice, nobody twice.
    streams = participant_stream_prefix("acme", event)
    assert await api.log(SEATS_FOR, "SeatAssigned", session, streams) == seats
    assert await api.log(SEATS_FOR, "Waitlisted", session, streams) == people - seats
    assert await api.log(TICKETS, session, streams) == people
    assert await api.log(TWICE, session, streams) == 0
    return crowd
