"""`registry verify` (issue 7) as a user runs it (a subprocess on a real database): a scripted
day's log verifies (exit 0); a log tampered with as a superuser fails, naming the first bad
position and what is wrong: an extra SeatAssigned beyond capacity, a promotion of someone who
was not the queue's head, a read-model row changed, a replay snapshot changed, a seat in a
session that does not exist.
And the chain tampered with (data changed, an event deleted, contents swapped): verify names the
first bad position (each way of tampering in detail: tests of registry.audit.chain_check).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass

import asyncpg
import pytest

from registry.audit.chainer import chain_batch, load_state
from registry.audit.replay import Replay
from registry.capacity.memory import MemoryGate
from registry.domain.event import Event
from registry.domain.events import ALL_EVENTS, PromotedFromWaitlist, SeatAssigned, SeatReleased
from registry.domain.streams import participant_stream
from registry.eventstore import ANY, EventCodec, StreamAppend
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.erasure import erase_participant
from registry.handlers.gate_sync import GateKeeper
from tests.support.programme import ORG, ctx, set_up
from tests.support.read_models import catch_up
from tests.support.scripted_day import DAY, sign_up


@dataclass
class Day:
    url: str
    pool: asyncpg.Pool
    store: PostgresEventStore
    event_id: str

    async def tamper(self, *facts: tuple[str, Event]) -> int:
        """Append facts no decision made (as anyone who can reach the store could); returns
        the position of the last, once the read models have caught up with them."""
        appends = [
            StreamAppend(participant_stream(ORG, self.event_id, who), ANY, [event])
            for who, event in facts
        ]
        result = await self.store.append(appends)
        await catch_up(self.pool, self.store)
        return result.position

    async def verify(self) -> tuple[int, str]:
        """`registry verify` against this database: (exit code, output)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env |= {"REGISTRY_DATABASE_URL": self.url, "REGISTRY_REDIS_URL": "redis://unused:1/0"}
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "registry.cli", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr


@pytest.fixture
async def day(fresh_database_url: str, fresh_pool: asyncpg.Pool) -> Day:
    store = PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))
    keeper = GateKeeper(store, MemoryGate())
    event_id = f"e-{uuid.uuid4().hex[:8]}"
    await set_up(keeper, event_id)
    for step in DAY:
        await step(keeper, event_id)
    await catch_up(fresh_pool, store)
    # Snapshots as `?as_of=` queries would leave them, so that verify checks some.
    replay = Replay(fresh_pool, EventCodec(ALL_EVENTS), every=5)
    for position in range(1, await store.head() + 1, 4):
        await replay.state(ORG, event_id, position)
    assert len(replay.written) > 2
    return Day(fresh_database_url, fresh_pool, store, event_id)


def first_bad(output: str) -> tuple[int, str]:
    found = re.search(r"^first bad position: (\d+) \(([a-z-]+): (.*)\)$", output, re.M)
    assert found is not None, output
    return int(found.group(1)), found.group(2)


async def test_an_untouched_log_verifies(day: Day) -> None:
    code, output = await day.verify()
    assert code == 0, output
    for check in ("chain", "structure", "capacity", "promotion", "snapshots", "read-model"):
        assert re.search(rf"^{check} +OK", output, re.M), output
    assert output.rstrip().endswith("all checks hold")


async def test_read_models_behind_the_log_are_checked_as_of_their_own_position(day: Day) -> None:
    keeper = GateKeeper(day.store, MemoryGate())
    behind = await day.store.head()
    await sign_up("p1", "a")(keeper, day.event_id)  # the projections are not fed this
    await sign_up("p0", "o")(keeper, day.event_id)
    assert await day.store.head() > behind
    code, output = await day.verify()
    assert code == 0, output


async def test_a_seat_beyond_capacity_is_found(day: Day) -> None:
    # At the end of the day c (1 seat) is held by p2; p3 is given a second seat there.
    position = await day.tamper(
        ("p3", SeatAssigned(participant_id="p3", session_id="c", ticket=99))
    )
    code, output = await day.verify()
    assert code == 1
    assert first_bad(output) == (position, "capacity")
    assert "leaves c with 2 seats taken of 1" in output


async def test_a_promotion_of_someone_not_at_the_head_is_found(day: Day) -> None:
    keeper = GateKeeper(day.store, MemoryGate())
    await sign_up("p1", "a")(keeper, day.event_id)  # queues behind p4 (ticket order)
    await catch_up(day.pool, day.store)
    # p3 leaves a; the seat goes to p1, who waited behind p4.
    position = await day.tamper(
        ("p3", SeatReleased(participant_id="p3", session_id="a", reason="cancelled")),
        ("p1", PromotedFromWaitlist(participant_id="p1", session_id="a", ticket=9)),
    )
    code, output = await day.verify()
    assert code == 1
    assert first_bad(output) == (position, "promotion")
    assert "but the head of its queue was p4" in output


async def test_a_changed_read_model_row_is_found(day: Day) -> None:
    await day.pool.execute(
        "UPDATE rm_occupancy SET seated = seated + 1 WHERE event_id = $1 AND session_id = 'a'",
        day.event_id,
    )
    code, output = await day.verify()
    assert code == 1
    position, check = first_bad(output)
    assert (position, check) == (await day.store.head(), "read-model")
    assert "occupancy: sessions[" in output


async def test_a_changed_snapshot_is_found(day: Day) -> None:
    changed = await day.pool.fetchval(
        """UPDATE replay_snapshots SET state = (SELECT state FROM replay_snapshots
                                                  WHERE event_id = $1 ORDER BY position LIMIT 1)
            WHERE event_id = $1
              AND position = (SELECT max(position) FROM replay_snapshots WHERE event_id = $1)
        RETURNING position""",
        day.event_id,
    )
    code, output = await day.verify()
    assert code == 1
    assert first_bad(output) == (changed, "snapshots")


async def test_a_seat_in_a_session_that_does_not_exist_is_found(day: Day) -> None:
    position = await day.tamper(
        ("p0", SeatAssigned(participant_id="p0", session_id="nowhere", ticket=1))
    )
    code, output = await day.verify()
    assert code == 1
    assert first_bad(output) == (position, "structure")


async def chain_everything(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        state = await load_state(conn)
        while await chain_batch(conn, state):
            pass


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET data = data || '{\"ticket\": 99}' WHERE position = {p}",
        "DELETE FROM events WHERE position = {p}",
        # Two events' contents swapped (UPDATE ... FROM reads the rows as they were).
        "UPDATE events e SET data = o.data FROM events o"
        " WHERE (e.position, o.position) IN (({p}, {q}), ({q}, {p}))",
    ],
    ids=["data changed", "event deleted", "contents swapped"],
)
async def test_a_tampered_chain_fails_verify_at_the_first_bad_position(
    day: Day, statement: str
) -> None:
    """As a superuser rewriting the log would (through the maintenance role, the only one the
    log's trigger lets change it): `registry verify` names the position and the chain."""
    await chain_everything(day.pool)
    seats = await day.pool.fetch(
        "SELECT position FROM events WHERE type = 'SeatAssigned' ORDER BY position LIMIT 2"
    )
    p, q = seats[0]["position"], seats[1]["position"]
    async with day.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE registry_maintenance")
        await conn.execute(statement.replace("{p}", str(p)).replace("{q}", str(q)))
    code, output = await day.verify()
    assert code == 1, output
    assert first_bad(output) == (p, "chain")


async def test_a_log_whose_participant_was_erased_still_verifies(day: Day) -> None:
    """Erasure removes personal data beside the log; the log, its chain, the read models and
    their replays are untouched, so verify holds before and after."""
    await chain_everything(day.pool)
    keeper = GateKeeper(day.store, MemoryGate())
    await erase_participant(keeper, ctx(), day.event_id, "p0")
    await catch_up(day.pool, day.store)
    await chain_everything(day.pool)
    assert await day.pool.fetchval(
        "SELECT name IS NULL FROM participant_details WHERE participant_id = 'p0'"
    )
    code, output = await day.verify()
    assert code == 0, output
