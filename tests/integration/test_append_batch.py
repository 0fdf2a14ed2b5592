"""The batched append (append_batch, migrations/0046; eventstore/batcher.py) keeps each command's
semantics exact: a batch of commands has the same outcomes, command by command, and leaves the
same streams as the same commands appended one by one, in order, by append_events; a failed
command fails alone; a command whose gate fence is taken goes alone and waits, without holding
up its neighbours."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.eventstore import (
    ANY,
    NO_STREAM,
    AppendResult,
    CommandIdReused,
    GateFence,
    Metadata,
    StaleGateDecision,
    StreamAppend,
    WrongExpectedVersion,
)
from registry.eventstore.batcher import FENCED, run_batch
from registry.eventstore.postgres import PostgresEventStore
from registry.eventstore.prepare import PreparedAppend, PreparedEvent, prepare
from tests.support.events import Deposited, Noted, test_codec

CODEC = test_codec()
_runs = itertools.count()


class Command(msgspec.Struct, frozen=True):
    """One generated command, before its names get a run's prefix."""

    streams: tuple[tuple[str, int | None, int], ...]  # (name, expected, events)
    command_id: str | None
    fingerprint: str
    fence: str | None  # None, "current" or "stale"


def _commands() -> st.SearchStrategy[list[Command]]:
    stream = st.tuples(
        st.sampled_from(["x", "y", "z"]),
        st.sampled_from([ANY, NO_STREAM, 1, 2, 3]),
        st.integers(0, 2),
    )
    command = st.builds(
        Command,
        streams=st.lists(stream, max_size=3, unique_by=lambda s: s[0]).map(tuple),
        command_id=st.sampled_from([None, "c1", "c2", "c3"]),
        fingerprint=st.sampled_from(["f1", "f2"]),
        fence=st.sampled_from([None, "current", "stale"]),
    ).filter(lambda c: bool(c.streams) or c.command_id is not None)
    return st.lists(command, min_size=1, max_size=12)


def _prepared(command: Command, run: str, epoch: int) -> PreparedAppend:
    appends = [
        StreamAppend(
            f"acct-{run}{name}",
            expected,
            [Deposited(amount=i) for i in range(events)],
        )
        for name, expected, events in command.streams
    ]
    fence = None
    if command.fence is not None:
        fence = GateFence(f"gate-{run}", epoch if command.fence == "current" else epoch - 1)
    return prepare(
        CODEC,
        appends,
        metadata=Metadata(actor=run),
        command_id=None if command.command_id is None else f"{run}{command.command_id}",
        fingerprint=command.fingerprint,
        answer=msgspec.json.encode({"fingerprint": command.fingerprint}),
        fence=fence,
    )


def _outcome(outcome: object) -> tuple[object, ...]:
    """What must agree between the two paths (positions may not: gaps differ)."""
    if isinstance(outcome, AppendResult):
        return (
            "result",
            outcome.stream_versions,
            outcome.replayed,
            outcome.answer,
            len(outcome.positions),
        )
    if isinstance(outcome, WrongExpectedVersion):
        return ("conflict", outcome.stream_id.split("-")[1][-1], outcome.expected, outcome.actual)
    if isinstance(outcome, StaleGateDecision):
        return ("stale", outcome.epoch - outcome.current if outcome.current else None)
    if isinstance(outcome, CommandIdReused):
        return ("reused", outcome.command_id[-2:])
    raise AssertionError(f"unexpected outcome {outcome!r}")


async def _streams(conn: asyncpg.Connection, run: str) -> list[tuple[str, int, str, bytes]]:
    rows = await conn.fetch(
        "SELECT stream_id, stream_version, type, data::text AS data FROM events"
        " WHERE stream_id LIKE $1 ORDER BY stream_id, stream_version",
        f"acct-{run}%",
    )
    return [(r["stream_id"][-1], r["stream_version"], r["type"], r["data"]) for r in rows]


async def _epoch(store: PostgresEventStore, key: str) -> int:
    async with store.gate_fence(key) as epoch:
        return epoch


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(commands=_commands(), before=st.tuples(*[st.integers(0, 3)] * 3))
async def test_a_batch_answers_and_writes_as_the_same_commands_one_by_one(
    fresh_pool: asyncpg.Pool, commands: list[Command], before: tuple[int, int, int]
) -> None:
    """`before`: how many events streams x, y and z hold before the commands run (the early
    version check of append_batch reads streams that exist before the batch)."""
    store = PostgresEventStore(fresh_pool, CODEC, append_batch=0)
    n = next(_runs)
    alone_run, batch_run = f"a{n}r", f"b{n}r"
    alone_epoch = await _epoch(store, f"gate-{alone_run}")
    batch_epoch = await _epoch(store, f"gate-{batch_run}")

    alone: list[object] = []
    async with fresh_pool.acquire() as conn:
        for run in (alone_run, batch_run):
            for name, events in zip("xyz", before, strict=True):
                if events:
                    appends = [
                        StreamAppend(f"acct-{run}{name}", NO_STREAM, [Noted(text="b")] * events)
                    ]
                    await store.append_prepared(
                        conn, prepare(CODEC, appends, metadata=Metadata(), command_id=None,
                                      fingerprint=None, answer=None)
                    )  # fmt: skip
        for command in commands:
            try:
                alone.append(
                    await store.append_prepared(conn, _prepared(command, alone_run, alone_epoch))
                )
            except (WrongExpectedVersion, StaleGateDecision, CommandIdReused) as error:
                alone.append(error)
        head = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
        batched = await run_batch(
            conn, [_prepared(command, batch_run, batch_epoch) for command in commands]
        )
        assert [_outcome(o) for o in batched] == [_outcome(o) for o in alone]
        assert await _streams(conn, batch_run) == await _streams(conn, alone_run)

    # Each answer's `position` is the log's head as the command left it, as one by one: its
    # last event's, or (when it wrote none) the last one the batch's earlier commands wrote.
    for outcome in batched:
        if isinstance(outcome, AppendResult) and not outcome.replayed:
            head = max(outcome.positions, default=head)
            assert outcome.position == head

    # In the batch, positions follow the commands' order.
    written = [
        p for o in batched if isinstance(o, AppendResult) and not o.replayed for p in o.positions
    ]
    assert written == sorted(set(written))


async def test_a_failing_command_fails_alone_whatever_its_error(
    fresh_pool: asyncpg.Pool,
) -> None:
    """An error append_batch does not know (a CHECK on the events table) comes back as asyncpg
    raises it, for that command only."""
    run = f"c{next(_runs)}r"

    def good() -> PreparedAppend:
        return prepare(
            CODEC,
            [StreamAppend(f"acct-{run}x", ANY, [Noted(text="a")])],
            metadata=Metadata(),
            command_id=None,
            fingerprint=None,
            answer=None,
        )

    bad_event = PreparedEvent(0, uuid.uuid4(), "bad type!", 1, b"{}")
    bad = msgspec.structs.replace(good(), streams=(f"acct-{run}y",), events=(bad_event,))
    async with fresh_pool.acquire() as conn:
        outcomes = await run_batch(conn, [good(), bad, good()])
        assert isinstance(outcomes[0], AppendResult)
        assert isinstance(outcomes[1], asyncpg.CheckViolationError)
        assert isinstance(outcomes[2], AppendResult)
        assert [e[1] for e in await _streams(conn, run)] == [1, 2]


async def test_a_fenced_command_waits_alone_and_its_neighbours_go_on(
    fresh_pool: asyncpg.Pool,
) -> None:
    store = PostgresEventStore(fresh_pool, CODEC)
    run = f"d{next(_runs)}r"
    key = f"gate-{run}"
    epoch = await _epoch(store, key)

    def append(stream: str, fence: GateFence | None) -> asyncio.Task[AppendResult]:
        return asyncio.create_task(
            store.append(
                [StreamAppend(f"acct-{run}{stream}", ANY, [Noted(text=stream)])], fence=fence
            )
        )

    async with fresh_pool.acquire() as conn:
        fenced = prepare(
            CODEC,
            [StreamAppend(f"acct-{run}f", ANY, [Noted(text="f")])],
            metadata=Metadata(),
            command_id=None,
            fingerprint=None,
            answer=None,
            fence=GateFence(key, epoch),
        )
        async with store.gate_fence(key):
            assert (await run_batch(conn, [fenced]))[0] is FENCED
            waiting = append("f", GateFence(key, epoch))
            neighbour = append("n", None)
            # The neighbour commits while the fence is still held; the fenced one waits.
            await asyncio.wait_for(neighbour, timeout=10)
            await asyncio.sleep(0.2)
            assert not waiting.done()
        with pytest.raises(StaleGateDecision):
            await waiting  # the fence moved the epoch on: decide again
        assert [e[0] for e in await _streams(conn, run)] == ["n"]


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_concurrent_appends_are_gathered_into_batches_with_exact_answers(
    fresh_pool: asyncpg.Pool, in_flight: int
) -> None:
    store = PostgresEventStore(fresh_pool, CODEC, append_batches_in_flight=in_flight)
    assert store.batcher is not None
    run = f"e{next(_runs)}r"
    ids = [f"{run}-{i % 150}" for i in range(200)]  # 50 retried while the first may be in flight

    async def one(command_id: str) -> AppendResult:
        stream = f"acct-{run}{command_id.rsplit('-', 1)[1]}"
        return await store.append(
            [StreamAppend(stream, ANY, [Noted(text=command_id)])],
            command_id=command_id,
            fingerprint="f",
            answer=msgspec.json.encode(command_id),
        )

    before = store.batcher.batches
    results = await asyncio.gather(*(one(i) for i in ids))
    assert store.batcher.batches - before < len(ids) / 4, "concurrent appends were batched"
    by_id: dict[str, AppendResult] = {}
    for command_id, result in zip(ids, results, strict=True):
        assert result.answer == msgspec.json.encode(command_id)
        first = by_id.setdefault(command_id, result)
        assert result.positions == first.positions  # a retry answers as the first run
    async with fresh_pool.acquire() as conn:
        events = await _streams(conn, run)
    assert len(events) == 150, "each command written once"
    assert all(version == 1 for _, version, _, _ in events)
