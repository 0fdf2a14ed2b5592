"""A capacity lowered while sign-ups run: no sign-up is ever admitted beyond the capacity in force
when it was decided, and the excess is exact. Checked against the log, fact by fact."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import Api

FACTS = """
SELECT type, data FROM events
 WHERE stream_id = 'event-acme:almelo' OR stream_id LIKE 'participant-acme:almelo:%'
 ORDER BY position
"""


async def replay_seats(api: Api, session: str) -> tuple[int, int, int | None]:
    """Walk the log in order: (seats at the end, the capacity at the end, seats when the
    capacity changed); fails if a sign-up or a promotion ever went beyond the capacity then in
    force."""
    import asyncpg

    conn = await asyncpg.connect(api.database_url)
    try:
        rows = await conn.fetch(FACTS)
    finally:
        await conn.close()
    import json

    capacity: int | None = None
    seated = 0
    at_change: int | None = None
    for row in rows:
        data = json.loads(row["data"])
        kind = row["type"]
        if data.get("session_id") != session:
            continue
        if kind == "SessionScheduled":
            capacity = data["capacity"]
        elif kind == "SessionCapacityChanged":
            capacity, at_change = data["capacity"], seated
        elif kind in ("SeatAssigned", "PromotedFromWaitlist"):
            seated += 1
            assert capacity is not None and seated <= capacity, (
                f"{kind} of {data['participant_id']} made {seated} seats of {capacity}"
            )
        elif kind == "SeatReleased":
            seated -= 1
    assert capacity is not None
    return seated, capacity, at_change


@pytest.mark.slow
async def test_capacity_lowered_from_100_to_50_while_200_sign_ups_run(api: Api) -> None:
    await api.create_event()
    await api.room("zaal", 100)
    await api.session("a", "zaal")
    people = [await api.participant(f"p{i}") for i in range(200)]
    gate = asyncio.Semaphore(32)  # requests in flight; waiters are let in first come, first in

    async def sign_up(participant: str) -> str:
        async with gate:
            answer = await api.sign_up(participant, "a")
            assert answer.status_code == 201, answer.text
            return str(answer.json()["status"])

    async def lower() -> dict[str, object]:
        async with gate:  # queued behind the first 60 sign-ups, ahead of the other 140
            answer = await api.client.patch(
                "/v1/events/almelo/sessions/a",
                json={"capacity": 50},
                headers=api.as_("organiser"),
            )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    first = [asyncio.create_task(sign_up(p)) for p in people[:60]]
    change = asyncio.create_task(lower())
    rest = [asyncio.create_task(sign_up(p)) for p in people[60:]]
    changed = await change
    statuses = await asyncio.gather(*first, *rest)
    seated_in_log, capacity, at_change = await replay_seats(api, "a")
    assert capacity == 50
    assert at_change is not None
    admitted = statuses.count("seated")
    assert admitted == seated_in_log
    assert statuses.count("waitlisted") == 200 - admitted
    # Nobody lost a seat; the excess the answer reported is exact; after the change no sign-up
    # was admitted beyond 50 (replay_seats), and the seats below 50 were filled.
    assert changed["over_capacity"] == max(0, at_change - 50)
    assert admitted == max(at_change, 50)
    occupancy = await api.client.get(
        "/v1/events/almelo/occupancy",
        params={"after": await api.head()},
        headers=api.as_("organiser"),
    )
    [row] = occupancy.json()["sessions"]
    assert row["seated"] == admitted
    assert row["over_capacity"] == max(0, admitted - 50)
    print(
        f"\nseated at the change {at_change}, in the end {admitted}, "
        f"over capacity {row['over_capacity']}, waitlisted {200 - admitted}"
    )
