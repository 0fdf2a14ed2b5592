"""`registry projections status|rebuild|run` as a user runs them: a subprocess on a real database,
configured by REGISTRY_DATABASE_URL / REGISTRY_REDIS_URL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from projections import PROJECTIONS
from projections.checkpoints import LEADER_LOCK_CLASS, REBUILD_LOCK_CLASS
from registry.domain.events import (
    ALL_EVENTS,
    EventCreated,
    ParticipantRegistered,
    RegistrationOpened,
    RoomAdded,
)
from registry.domain.streams import event_stream, participant_stream
from registry.eventstore import NO_STREAM, EventCodec, StreamAppend
from registry.eventstore.postgres import PostgresEventStore

NAMES = [p.name for p in PROJECTIONS]
Rows = dict[str, dict[str, str]]
COLUMNS = ["projection", "generation", "position", "head", "lag_events", "lag_seconds", "leader"]


def env_for(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return env | {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_REDIS_URL": redis_url}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "registry.cli", "projections", *args]


async def run_cli(
    *args: str, database_url: str, redis_url: str
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        command(*args),
        env=env_for(database_url, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def parse_status(stdout: str) -> Rows:
    """`status` output -> {projection: {column: value}}; the header must name the columns."""
    header, *lines = stdout.strip().splitlines()
    assert header.split() == COLUMNS, stdout
    rows = {}
    for line in lines:
        cells = line.split(maxsplit=len(COLUMNS) - 1)
        rows[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    return rows


async def status(database_url: str, redis_url: str) -> Rows:
    result = await run_cli("status", database_url=database_url, redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    return parse_status(result.stdout)


@pytest.fixture
def store(fresh_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(fresh_pool, EventCodec(ALL_EVENTS))


async def append_programme(store: PostgresEventStore, people: int = 3) -> int:
    """An event with a room, open registration and `people` participants; the log's head."""
    org, event = "acme", "almelo"
    programme = [
        EventCreated(event_id=event, title="Netwerkdag", timezone="Europe/Amsterdam",
                     date=dt.date(2024, 1, 11)),
        RoomAdded(room_id="zaal", name="Zaal", capacity=10),
        RegistrationOpened(),
    ]  # fmt: skip
    written = await store.append([StreamAppend(event_stream(org, event), NO_STREAM, programme)])
    for n in range(people):
        person = f"p{n}"
        joined = ParticipantRegistered(participant_id=person)
        stream = participant_stream(org, event, person)
        written = await store.append([StreamAppend(stream, NO_STREAM, [joined])])
    return await readable(store, written.position)


async def readable(store: PostgresEventStore, position: int, within: float = 180.0) -> int:
    """Wait until the fenced head has reached `position`: the fence is the cluster's oldest
    running transaction, so another database's long transaction on the same server (a bench's
    COPY, a parallel test run) holds it back for a while."""
    deadline = time.monotonic() + within
    while (head := await store.head()) < position:
        assert time.monotonic() < deadline, f"the head stayed at {head}, below {position}"
        await asyncio.sleep(0.05)
    return head


async def test_status_shows_every_projection_behind_by_the_whole_log(
    store: PostgresEventStore, fresh_database_url: str, redis_url: str
) -> None:
    head = await append_programme(store)
    assert head >= 6
    await asyncio.sleep(1.1)  # so the first unapplied event has waited a measurable while

    rows = await status(fresh_database_url, redis_url)

    assert sorted(rows) == sorted(NAMES)
    for name, row in rows.items():
        # Never run: no live generation yet, nothing applied, the whole log to go, no leader.
        assert row["generation"] == "-", row
        assert row["position"] == "0", row
        assert row["head"] == str(head), row
        assert row["lag_events"] == str(head), (name, row)
        assert float(row["lag_seconds"]) >= 1.0, row
        assert row["leader"] == "none", row


async def test_status_names_the_leader_in_this_database_only(
    database_url: str, fresh_database_url: str, redis_url: str
) -> None:
    take = "SELECT pg_try_advisory_lock($1, hashtext($2))"
    here = await asyncpg.connect(fresh_database_url, server_settings={"application_name": "mine"})
    # The same lock in another database on the same server: another deployment's leader.
    elsewhere = await asyncpg.connect(database_url)
    try:
        assert await here.fetchval(take, LEADER_LOCK_CLASS, "seats")
        assert await elsewhere.fetchval(take, LEADER_LOCK_CLASS, "catalog")

        rows = await status(fresh_database_url, redis_url)
    finally:
        await here.close()
        await elsewhere.close()

    assert rows["seats"]["leader"] == f"{here.get_server_pid()} mine"
    assert rows["catalog"]["leader"] == "none"


async def test_rebuild_all_brings_every_projection_to_generation_2_at_the_head(
    store: PostgresEventStore, fresh_pool: asyncpg.Pool, fresh_database_url: str, redis_url: str
) -> None:
    head = await append_programme(store)

    result = await run_cli("rebuild", "--all", database_url=fresh_database_url, redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{name}: generation 2, position {head}" for name in NAMES
    ]
    rows = await status(fresh_database_url, redis_url)
    for row in rows.values():
        assert (row["generation"], row["position"], row["head"]) == ("2", str(head), str(head))
        assert (row["lag_events"], row["lag_seconds"]) == ("0", "0.0"), row
    # The rebuild really replayed the log into the read models' new generation.
    names = await fresh_pool.fetchval(
        "SELECT count(*) FROM rm_participants WHERE generation = 2 AND event_id = 'almelo'"
    )
    assert names == 3
    assert (
        await fresh_pool.fetchval("SELECT count(*) FROM rm_participants WHERE generation = 1") == 0
    )


async def test_rebuild_of_one_projection_leaves_the_others_alone(
    store: PostgresEventStore, fresh_database_url: str, redis_url: str
) -> None:
    head = await append_programme(store, people=1)

    result = await run_cli("rebuild", "seats", database_url=fresh_database_url, redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"seats: generation 2, position {head}"
    rows = await status(fresh_database_url, redis_url)
    assert (rows["seats"]["generation"], rows["seats"]["lag_events"]) == ("2", "0")
    assert (rows["catalog"]["generation"], rows["catalog"]["lag_events"]) == ("-", str(head))


@pytest.mark.parametrize(
    "args", [("rebuild", "nope"), ("rebuild",), ("rebuild", "seats", "--all")], ids=str
)
async def test_rebuild_refuses_a_wrong_choice_with_exit_2(
    args: tuple[str, ...], fresh_database_url: str, redis_url: str
) -> None:
    result = await run_cli(*args, database_url=fresh_database_url, redis_url=redis_url)

    assert result.returncode == 2, result
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line
    assert result.stderr.startswith("registry: "), result.stderr
    if "nope" in args:
        assert "no projection named 'nope'" in result.stderr


async def test_rebuild_while_another_runs_is_refused_with_exit_2(
    fresh_pool: asyncpg.Pool, fresh_database_url: str, redis_url: str
) -> None:
    # Hold the rebuild lock of `seats` as a running rebuild would (projections/rebuild.py).
    async with fresh_pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext('seats'))", REBUILD_LOCK_CLASS
        )
        try:
            result = await run_cli(
                "rebuild", "seats", database_url=fresh_database_url, redis_url=redis_url
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock_all()")

    assert result.returncode == 2, result
    assert result.stderr.strip() == "registry: a rebuild of seats is running already"


async def test_run_catches_up_leads_every_projection_and_stops_cleanly_on_sigterm(
    store: PostgresEventStore, fresh_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    head = await append_programme(store)
    urls = (fresh_database_url, redis_url)
    output = tmp_path / "projector.log"  # a file, not a pipe nobody reads while it runs
    with output.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *command("run"), env=env_for(*urls), stdout=out, stderr=out
        )
    try:
        rows = await wait_until(
            lambda rows: all(
                r["lag_events"] == "0" and r["leader"] != "none" for r in rows.values()
            ),
            *urls,
            proc=proc,
        )
        for row in rows.values():
            assert (row["generation"], row["position"]) == ("1", str(head)), row
            pid, name = row["leader"].split(maxsplit=1)
            assert int(pid) > 0
            assert name == "registry-projector"
        # It follows the log: a later event is applied without a restart.
        late = ParticipantRegistered(participant_id="late")
        stream = participant_stream("acme", "almelo", "late")
        written = await store.append([StreamAppend(stream, NO_STREAM, [late])])
        head = await readable(store, written.position)
        await wait_until(
            lambda rows: all(r["position"] == str(head) for r in rows.values()), *urls, proc=proc
        )

        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    logged = output.read_text()
    assert returncode == 0, logged
    assert "projector stopped" in logged and "SIGTERM" in logged, logged
    # Its locks went with its connections (their backends end a moment after it).
    await wait_until(lambda rows: all(r["leader"] == "none" for r in rows.values()), *urls)


async def wait_until(
    holds: Callable[[Rows], bool],
    database_url: str,
    redis_url: str,
    *,
    proc: asyncio.subprocess.Process | None = None,
    within: float = 60.0,
) -> Rows:
    """Poll `status` until `holds`; fail at once if the projector `proc` has ended."""
    deadline = time.monotonic() + within
    while not holds(rows := await status(database_url, redis_url)):
        if proc is not None:
            assert proc.returncode is None, f"the projector ended with {proc.returncode}"
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.2)
    return rows
