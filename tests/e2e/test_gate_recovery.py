"""Redis is a rebuildable gate: when it loses an event's keys, the next decision rebuilds them from
the log first (never a guess), and the rebuilt state equals what was lost."""

from __future__ import annotations

import redis.asyncio as aioredis

from registry.capacity.redis_gate import RedisGate
from registry.domain.seating import Seating
from tests.support.api import Api


def observed(seating: Seating) -> dict[str, tuple[dict[str, int], list[str], int]]:
    return {
        sid: (dict(s.seated), s.queue(), s.next_ticket)
        for sid, s in sorted(seating.sessions.items())
    }


async def test_a_gate_that_lost_its_data_is_rebuilt_from_the_log_before_deciding(api: Api) -> None:
    await api.create_event()
    await api.room("r1", 2)
    await api.session("a", "r1")
    await api.session("b", None, "14:30", "15:30", capacity=1)
    people = [await api.participant(f"p{i}") for i in range(5)]
    for p in people[:4]:
        await api.sign_up(p, "a")  # 2 seated, 2 waiting
    await api.sign_up(people[4], "b")
    await api.client.delete(
        f"/v1/events/almelo/participants/{people[0]}/signups/a", headers=api.as_("form")
    )  # p2 is promoted
    client = aioredis.Redis.from_url(api.redis_url)
    try:
        gate = RedisGate(client, api.redis_prefix)
        before = observed(await gate.seating("acme:almelo"))
        # Redis loses everything of this run (a FLUSHALL limited to our prefix: the server may be
        # shared with other runs).
        async for key in client.scan_iter(match=f"{api.redis_prefix}*"):
            await client.delete(key)
        assert not await gate.is_ready("acme:almelo")

        answer = await api.sign_up(people[0], "a")  # a is full again: p0 joins the queue
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "waitlisted"
        assert answer.json()["waitlist_position"] == 2
        after = observed(await gate.seating("acme:almelo"))
    finally:
        await client.aclose()
    seated_a, queue_a, next_a = before["a"]
    assert after["b"] == before["b"]
    assert after["a"][0] == seated_a
    assert after["a"][1] == [*queue_a, people[0]]
    assert after["a"][2] == next_a + 1
