"""Occupancy answers shared for a moment (projections/shared_reads.py): readers within the moment
get the answer of the first, naming the position it reflects; after it, or with `?after=` past
that position, they read afresh; readers of another organisation never share."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from projections import reads
from projections.shared_reads import SharedOccupancy
from registry.capacity.memory import MemoryGate
from registry.domain import commands as cmd
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers import registration
from registry.handlers.context import CommandContext
from registry.handlers.gate_sync import GateKeeper
from tests.support.programme import ORG, PEOPLE, set_up
from tests.support.read_models import catch_up

EVENT = "shared"


@pytest.fixture
async def keeper(fresh_pool: asyncpg.Pool) -> GateKeeper:
    keeper = GateKeeper(PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS)), MemoryGate())
    await set_up(keeper, EVENT)
    await catch_up(fresh_pool, keeper.store)
    return keeper


async def sign_up(keeper: GateKeeper, pool: asyncpg.Pool, who: str) -> int:
    ctx = CommandContext(organisation=ORG, actor="test", command_id=str(uuid.uuid4()))
    _, result = await registration.sign_up(keeper, ctx, EVENT, who, cmd.SignUp(session_id="a"))
    await catch_up(pool, keeper.store)
    return result.position


def seated(answer: dict[str, object]) -> int:
    [a] = [s for s in answer["sessions"] if s["session_id"] == "a"]  # type: ignore[attr-defined]
    return int(a["seated"])


async def test_readers_within_the_moment_share_the_first_answer(
    fresh_pool: asyncpg.Pool, keeper: GateKeeper
) -> None:
    shared = SharedOccupancy(fresh_pool, share_s=0.5)
    first = await shared.occupancy(ORG, EVENT)
    position = await sign_up(keeper, fresh_pool, PEOPLE[0])
    again = await shared.occupancy(ORG, EVENT)
    assert again == first and seated(again) == 0  # shared: the sign-up is not in it yet
    assert again["position"] < position  # and it says which position it reflects

    waited = await shared.occupancy(ORG, EVENT, after=position)
    assert seated(waited) == 1 and waited["position"] >= position

    await asyncio.sleep(0.5)
    fresh = await shared.occupancy(ORG, EVENT)
    assert fresh == await reads.occupancy(fresh_pool, ORG, EVENT)
    assert seated(fresh) == 1


async def test_readers_at_once_read_once_and_organisations_never_share(
    fresh_pool: asyncpg.Pool, keeper: GateKeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = reads.occupancy, []

    async def counted(*args: Any, **kw: Any) -> dict[str, Any]:
        calls.append(args[1:])
        await asyncio.sleep(0.01)  # a round trip: the other readers arrive meanwhile
        return await real(*args, **kw)

    monkeypatch.setattr(reads, "occupancy", counted)
    shared = SharedOccupancy(fresh_pool, share_s=30)
    answers = await asyncio.gather(*(shared.occupancy(ORG, EVENT) for _ in range(20)))
    assert all(answer is answers[0] for answer in answers)
    assert calls == [(ORG, EVENT)]  # one read for twenty readers

    with pytest.raises(reads.UnknownEvent):  # the same event id, another organisation
        await shared.occupancy("another-org", EVENT)
    assert calls == [(ORG, EVENT), ("another-org", EVENT)]
