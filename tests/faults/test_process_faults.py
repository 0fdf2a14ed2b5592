"""Processes killed mid-load: one of `registry serve`'s two granian workers, and the projector
in the middle of a batch (tests.support.fault_runs says what is checked afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import time
from typing import Final

import psutil
import pytest

from tests.support.api import Api
from tests.support.api_processes import Processes
from tests.support.fault_runs import EVENT, Servers, run_scenario

#: How long granian may take to start a worker in place of a dead one.
RESPAWN_WITHIN_S: Final = 20.0
#: A projector transaction that has written (a batch of a read model and its checkpoint).
PROJECTOR_IN_A_BATCH: Final = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND application_name = 'registry-projector'
   AND backend_xid IS NOT NULL
"""
PROJECTOR_LEADS: Final = """
SELECT count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND granted AND classid::bigint = $1
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def workers_of(serve: psutil.Process) -> list[psutil.Process]:
    """granian's worker processes: the children of `registry serve` running the same command."""
    workers = []
    for child in serve.children():
        try:
            if "serve" in " ".join(child.cmdline()):
                workers.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass  # the killed worker, until granian reaps it
    return workers


async def kill_a_worker(api: Api, processes: Processes) -> str:
    serve = psutil.Process(processes.started[0].pid)
    before = workers_of(serve)
    assert len(before) == 2, f"expected 2 workers, found {before}"
    victim = before[0]
    victim.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    # The load goes on meanwhile: the other worker serves, the clients retry what broke.
    while time.monotonic() - killed_at < RESPAWN_WITHIN_S:
        assert processes.started[0].poll() is None, (
            "registry serve exited when one of its workers died:\n"
            + processes.output(processes.started[0])
        )
        now = [w for w in workers_of(serve) if w.pid != victim.pid]
        if len(now) == 2:
            return (
                f"SIGKILL to granian worker {victim.pid} (1 of 2); respawned as "
                f"{[w.pid for w in now if w not in before]} in {time.monotonic() - killed_at:.1f} s"
            )
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker in place of {victim.pid} within {RESPAWN_WITHIN_S} s")


@pytest.mark.slow
async def test_an_api_worker_sigkilled_mid_load(shared_redis: Servers) -> None:
    report = await run_scenario("SIGKILL one of two API workers", shared_redis, kill_a_worker)
    report.assert_all_held()


async def until(condition: object, within: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(every)


@pytest.mark.slow
async def test_the_projector_sigkilled_mid_batch(shared_redis: Servers) -> None:
    from projections import PROJECTIONS, checkpoints

    pool = shared_redis.pool

    async def start_projector(api: Api, processes: Processes) -> None:
        processes.projector()

        async def leads_all() -> bool:
            found = await pool.fetchval(PROJECTOR_LEADS, checkpoints.LEADER_LOCK_CLASS)
            return int(found) >= len(PROJECTIONS)

        await until(leads_all, 30, "the projector leading every projection")

    async def kill_mid_batch(api: Api, processes: Processes) -> str:
        projector = processes.started[-1]

        async def in_a_batch() -> bool:
            return int(await pool.fetchval(PROJECTOR_IN_A_BATCH)) > 0

        async def keep_writing() -> None:
            # The scenario's own load can end before a batch is caught (it did once, in CI
            # under the whole suite: 15 s of an idle projector); registrations keep it busy.
            for n in itertools.count():
                await api.participant(f"filler-{n}", event=EVENT)

        writer = asyncio.create_task(keep_writing())
        try:
            await until(in_a_batch, 15, "the projector inside a batch", every=0.002)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        projector.send_signal(signal.SIGKILL)
        projector.wait(10)
        head = await api.head()
        async with pool.acquire() as conn:
            at = await checkpoints.positions(conn, [p.name for p in PROJECTIONS])
        await asyncio.sleep(0.5)  # the load goes on without a projector
        processes.projector()
        return (
            f"SIGKILL to `registry projections run` (pid {projector.pid}) inside a batch "
            f"(checkpoints {min(at.values())}-{max(at.values())}, head {head}); "
            "a new projector started 0.5 s later"
        )

    report = await run_scenario(
        "the projector SIGKILLed mid-batch",
        shared_redis,
        kill_mid_batch,
        projector_in_process=False,
        before_load=start_projector,
    )
    report.assert_all_held()
