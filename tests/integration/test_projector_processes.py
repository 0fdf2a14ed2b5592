"""`registry projections run` as real processes under sign-up load: SIGKILLed in the middle of
its work it resumes from its checkpoint; with two of them, each projection has one leader and
the stand-by takes over when the leader dies. Either way nothing is skipped or applied twice:
the read models end equal to the domain's fold of the log and to a rebuild.
The last test runs the whole deployment (issue 10): two `registry serve` processes behind a
round-robin client and two projectors on one database and one Redis, the leading projector
SIGKILLed and replaced under HTTP load; afterwards every invariant holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from projections import PROJECTIONS, checkpoints
from projections.rebuild import rebuild
from registry.capacity.memory import MemoryGate
from registry.capacity.redis_gate import RedisGate
from registry.domain.events import ALL_EVENTS
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.gate_sync import GateKeeper
from tests.support.api import Api
from tests.support.api_processes import api_processes
from tests.support.invariants import acknowledged_once, gate_agrees_with_log, log_keeps_every_rule
from tests.support.load import sign_ups_and_cancellations
from tests.support.programme import ORG, set_up
from tests.support.read_models import answered, expected, fold, kept_details, whole_log

EVENT = "busy-day"
NAMES = [p.name for p in PROJECTIONS]
LEADERS = """
SELECT count(*) AS locks, array_agg(DISTINCT pid) AS pids FROM pg_locks
 WHERE locktype = 'advisory' AND granted AND classid::bigint = $1
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@pytest.fixture
def launch(fresh_database_url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started projector processes; every one left is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def projector(started: list[subprocess.Popen[bytes]], database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REGISTRY_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "projections", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started.append(process)
    return process


@pytest.fixture
async def keeper(fresh_pool: asyncpg.Pool) -> GateKeeper:
    keeper = GateKeeper(PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS)), MemoryGate())
    await set_up(keeper, EVENT)
    return keeper


@contextlib.asynccontextmanager
async def sign_up_load(keeper: GateKeeper) -> AsyncIterator[list[int]]:
    """Sign-ups and cancellations from four clients until the block ends; yields a counter."""
    stop, done, rng = asyncio.Event(), [0], random.Random(5)
    clients = [
        asyncio.create_task(sign_ups_and_cancellations(keeper, EVENT, stop, rng, done))
        for _ in range(4)
    ]
    try:
        yield done
    finally:
        stop.set()
        await asyncio.gather(*clients)


async def positions(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return await checkpoints.positions(conn, NAMES)


async def until(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.05)


async def leaders(pool: asyncpg.Pool) -> tuple[int, set[int]]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(LEADERS, checkpoints.LEADER_LOCK_CLASS)
    return row["locks"], set(row["pids"] or [])


async def check_read_models(pool: asyncpg.Pool, keeper: GateKeeper) -> None:
    head = await keeper.store.head()

    async def caught_up() -> bool:
        return min((await positions(pool)).values()) >= head

    await until(caught_up, 30, "the projector catching up with the log")
    live = await answered(pool, ORG, EVENT)
    details = await kept_details(pool, ORG, EVENT)
    assert live == expected(fold(await whole_log(keeper.store), ORG, EVENT, details))
    for projection in PROJECTIONS:
        await rebuild(pool, keeper.store, projection)
    assert await answered(pool, ORG, EVENT) == live


@pytest.mark.slow
async def test_a_projector_killed_mid_work_resumes_from_its_checkpoint(
    fresh_pool: asyncpg.Pool,
    fresh_database_url: str,
    keeper: GateKeeper,
    launch: list[subprocess.Popen[bytes]],
) -> None:
    first = projector(launch, fresh_database_url)
    async with sign_up_load(keeper) as done:

        async def moving() -> bool:
            return min((await positions(fresh_pool)).values()) > 0 and done[0] > 30

        await until(moving, 30, "the first projector applying events under load")
        first.send_signal(signal.SIGKILL)  # whatever batch it was in is lost with it
        first.wait(10)
        killed_at = await positions(fresh_pool)
        await asyncio.sleep(0.3)  # the load goes on without a projector
        projector(launch, fresh_database_url)

        async def resumed() -> bool:
            now = await positions(fresh_pool)
            return all(now[n] > killed_at[n] for n in NAMES)

        await until(resumed, 30, "the second projector resuming")
        await asyncio.sleep(0.3)
    assert done[0] > 60
    await gate_agrees_with_log(fresh_pool, keeper.gate, ORG, EVENT)  # no hold left busy
    await check_read_models(fresh_pool, keeper)


@pytest.mark.slow
async def test_two_projectors_one_leader_each_and_the_stand_by_takes_over(
    fresh_pool: asyncpg.Pool,
    fresh_database_url: str,
    keeper: GateKeeper,
    launch: list[subprocess.Popen[bytes]],
) -> None:
    first = projector(launch, fresh_database_url)

    async def first_leads_all() -> bool:
        return (await leaders(fresh_pool))[0] >= len(NAMES)

    await until(first_leads_all, 30, "the first projector leading every projection")
    _, (first_backend,) = await leaders(fresh_pool)
    projector(launch, fresh_database_url)
    async with sign_up_load(keeper) as done:
        await asyncio.sleep(1.5)  # the stand-by has tried, and found every lock taken
        locks, backends = await leaders(fresh_pool)
        assert (locks, backends) == (len(NAMES), {first_backend})
        first.send_signal(signal.SIGKILL)
        first.wait(10)

        async def taken_over() -> bool:
            locks, backends = await leaders(fresh_pool)
            return locks == len(NAMES) and first_backend not in backends and len(backends) == 1

        started = time.monotonic()
        await until(taken_over, 15, "the stand-by taking over every projection")
        took = time.monotonic() - started
        await asyncio.sleep(0.3)
    assert took < 10, f"take-over took {took:.1f} s"
    assert done[0] > 30
    await gate_agrees_with_log(fresh_pool, keeper.gate, ORG, EVENT)  # no hold left busy
    await check_read_models(fresh_pool, keeper)


# -- the whole deployment: two API processes, two projectors, one database, one Redis ----------

#: id: (room capacity or None for online, start, end, online capacity): small, so that sign-ups
#: queue and cancellations promote, with overlaps for fallbacks.
LOAD_SESSIONS = {
    "a": (3, "10:00", "11:00", None),
    "b": (2, "10:00", "11:00", None),
    "c": (2, "11:00", "12:00", None),
    "d": (None, "10:30", "11:30", 4),
}
LOAD_PEOPLE = 30


async def programme_over_http(api: Api) -> list[str]:
    await api.create_event(EVENT)
    for sid, (seats, start, end, online) in LOAD_SESSIONS.items():
        if seats is None:
            made = await api.session(sid, None, start, end, EVENT, capacity=online, mode="online")
        else:
            await api.room(f"room-{sid}", seats, EVENT)
            made = await api.session(sid, f"room-{sid}", start, end, EVENT)
        assert made.status_code == 201, made.text
    return [await api.participant(f"p{n}", EVENT) for n in range(LOAD_PEOPLE)]


@contextlib.asynccontextmanager
async def http_load(api: Api, people: list[str]) -> AsyncIterator[list[tuple[str, int]]]:
    """Sign-ups and cancellations from eight clients over HTTP (round-robin to the API
    processes) until the block ends; yields the acknowledged (participant, position) so far.
    A 503 is retried with the same Idempotency-Key, as a client must."""
    stop, acknowledged, rng = asyncio.Event(), [], random.Random(7)

    async def command(who: str, sid: str, sign_up: bool) -> None:
        headers = {**api.as_("form"), "Idempotency-Key": str(uuid.uuid4())}
        path = f"/v1/events/{EVENT}/participants/{who}/signups"
        while True:
            if sign_up:
                answer = await api.client.post(path, json={"session_id": sid}, headers=headers)
            else:
                answer = await api.client.delete(f"{path}/{sid}", headers=headers)
            if answer.status_code != 503:
                break
            await asyncio.sleep(0.05)
        assert answer.status_code in (200, 201, 404, 409), answer.text
        if answer.status_code < 300:
            acknowledged.append((who, int(answer.json()["position"])))

    async def client() -> None:
        while not stop.is_set():
            await command(rng.choice(people), rng.choice(sorted(LOAD_SESSIONS)), rng.random() < 0.6)

    clients = [asyncio.create_task(client()) for _ in range(8)]
    try:
        yield acknowledged
    finally:
        stop.set()
        await asyncio.gather(*clients)


@pytest.mark.slow
async def test_two_apis_and_two_projectors_under_load_with_a_projector_killed_and_replaced(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    started = time.monotonic()
    store = PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))
    async with api_processes(
        fresh_database_url, redis_url, redis_prefix, apis=2, projector_in_process=False
    ) as (api, processes):
        people = await programme_over_http(api)
        first = processes.projector()

        async def first_leads_all() -> bool:
            return (await leaders(fresh_pool))[0] >= len(NAMES)

        await until(first_leads_all, 30, "the first projector leading every projection")
        _, (first_backend,) = await leaders(fresh_pool)
        processes.projector()  # the stand-by
        async with http_load(api, people) as acknowledged:

            async def moving() -> bool:
                return len(acknowledged) > 40 and min((await positions(fresh_pool)).values()) > 0

            await until(moving, 30, "sign-ups acknowledged and projected")
            first.send_signal(signal.SIGKILL)  # the leader, whatever batch it was in
            first.wait(10)
            killed_at = (await positions(fresh_pool), len(acknowledged))
            processes.projector()  # its replacement, a stand-by now

            async def taken_over() -> bool:
                locks, backends = await leaders(fresh_pool)
                now = await positions(fresh_pool)
                return (
                    locks == len(NAMES)
                    and first_backend not in backends
                    and all(now[n] > killed_at[0][n] for n in NAMES)
                )

            await until(taken_over, 20, "a stand-by leading and applying every projection")
            await asyncio.sleep(0.5)
        assert len(acknowledged) > killed_at[1], "the load stopped when the projector died"
        # Two API processes served the load: each answered.
        assert all(process.poll() is None for process in processes.started[:2])
        await acknowledged_once(fresh_pool, ORG, EVENT, acknowledged)
        client = aioredis.Redis.from_url(redis_url)
        try:
            await gate_agrees_with_log(fresh_pool, RedisGate(client, api.redis_prefix), ORG, EVENT)
        finally:
            await client.aclose()
    await check_read_models(fresh_pool, GateKeeper(store, MemoryGate()))
    await log_keeps_every_rule(fresh_pool)
    assert time.monotonic() - started < 90
