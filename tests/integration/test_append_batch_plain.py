"""The plain batch (append_batch_plain, migrations/0070; batcher.run_batch): a batch in which no
command needs deciding alone is written with one statement per table, and is then the same, row
for row, as append_batch would have made it; any other batch comes back with no rows and
nothing written, and run_batch hands it to append_batch."""

from __future__ import annotations

import itertools
import uuid

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from registry.eventstore import (
    ANY,
    NO_STREAM,
    AppendResult,
    GateFence,
    InvalidAppend,
    Metadata,
    StreamAppend,
    batcher,
)
from registry.eventstore.batcher import (
    APPEND_BATCH,
    APPEND_BATCH_PLAIN,
    batch_arguments,
    is_plain,
    run_batch,
)
from registry.eventstore.personal import ParticipantDetails
from registry.eventstore.postgres import PostgresEventStore
from registry.eventstore.prepare import PreparedAppend, PreparedEvent, prepare
from tests.support.events import Deposited, Noted, test_codec

CODEC = test_codec()
_runs = itertools.count()


class Command(msgspec.Struct, frozen=True):
    """One generated command of a plain-shaped batch: streams of its own, each with events."""

    streams: tuple[tuple[int | None, int], ...]  # (expected, events >= 1) per stream
    command_id: str  # "new", "none", "known" (appended before, same fingerprint), "reused"
    fence: str | None  # None, "current" or "stale"


def _batches() -> st.SearchStrategy[list[Command]]:
    """Batches of plain shape; half their commands are sure to be appended (so that batches in
    which every command is happen often), the others may need deciding alone."""
    clean = st.builds(
        Command,
        streams=st.lists(st.tuples(st.just(ANY), st.integers(1, 2)), min_size=1, max_size=3).map(
            tuple
        ),
        command_id=st.sampled_from(["new", "none"]),
        fence=st.sampled_from([None, "current"]),
    )
    stream = st.tuples(st.sampled_from([ANY, NO_STREAM, 1, 2]), st.integers(1, 2))
    any_command = st.builds(
        Command,
        streams=st.lists(stream, min_size=1, max_size=3).map(tuple),
        command_id=st.sampled_from(["new", "none", "known", "reused"]),
        fence=st.sampled_from([None, "current", "stale"]),
    )
    return st.lists(st.one_of(clean, any_command), min_size=1, max_size=6)


def _prepared(
    commands: list[Command], run: str, epoch: int
) -> tuple[list[PreparedAppend], list[PreparedAppend]]:
    """The batch (stream k of the batch is `acct-<run>s<k>`), and the commands to append
    before it so that "known" and "reused" ids are in the log."""
    batch, before = [], []
    k = 0
    for c, command in enumerate(commands):
        appends = []
        for expected, events in command.streams:
            appends.append(
                StreamAppend(
                    f"acct-{run}s{k}", expected, [Deposited(amount=i) for i in range(events)]
                )
            )
            k += 1
        fence = None
        if command.fence is not None:
            fence = GateFence(f"gate-{run}", epoch if command.fence == "current" else epoch - 1)
        command_id = None if command.command_id == "none" else f"{run}c{c}"
        batch.append(
            prepare(
                CODEC,
                appends,
                metadata=Metadata(actor=run),
                command_id=command_id,
                fingerprint="f",
                answer=msgspec.json.encode({"command": c}),
                fence=fence,
            )
        )
        if command.command_id in ("known", "reused"):
            before.append(
                prepare(
                    CODEC,
                    [StreamAppend(f"acct-{run}k{c}", ANY, [Noted(text="before")])],
                    metadata=Metadata(actor=run),
                    command_id=command_id,
                    fingerprint="f" if command.command_id == "known" else "other",
                    answer=msgspec.json.encode({"command": c}),
                )
            )
    return batch, before


async def _state(conn: asyncpg.Connection, run: str) -> tuple[list[object], ...]:
    """The run's events (without positions, which differ), streams and command rows."""
    events = await conn.fetch(
        "SELECT stream_id, stream_version, type, schema_version, data::text, metadata::text"
        " FROM events WHERE stream_id LIKE $1 ORDER BY position",
        f"acct-{run}%",
    )
    streams = await conn.fetch(
        "SELECT stream_id, version FROM streams WHERE stream_id LIKE $1 ORDER BY stream_id",
        f"acct-{run}%",
    )
    commands = await conn.fetch(
        "SELECT command_id, fingerprint, cardinality(positions), stream_versions, answer::text"
        " FROM commands WHERE command_id LIKE $1 ORDER BY command_id",
        f"{run}%",
    )

    def unprefixed(rows: list[asyncpg.Record]) -> list[object]:
        return [tuple(str(v).replace(run, "<run>") for v in row) for row in rows]

    return unprefixed(events), unprefixed(streams), unprefixed(commands)


def _row(row: asyncpg.Record) -> tuple[object, ...]:
    return (row["outcome"], row["replayed"], len(row["positions"]), row["stream_versions"],
            row["answer"], row["detail"], row["message"])  # fmt: skip


async def _epoch(store: PostgresEventStore, key: str) -> int:
    async with store.gate_fence(key) as epoch:
        return epoch


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(commands=_batches(), before=st.lists(st.integers(0, 2), min_size=24, max_size=24))
async def test_a_plain_batch_writes_what_append_batch_writes_or_nothing(
    fresh_pool: asyncpg.Pool, commands: list[Command], before: list[int]
) -> None:
    """The same batch, in two runs with the same history: append_batch in one, the plain
    function in the other. The plain one answers every command 'appended' exactly when
    append_batch does, with the same rows and the same log; otherwise it writes nothing.
    `before`: events stream k holds before the batch (so that expected versions may hold)."""
    store = PostgresEventStore(fresh_pool, CODEC, append_batch=0)
    n = next(_runs)
    runs = {"batch": f"pb{n}r", "plain": f"pp{n}r"}
    rows: dict[str, list[asyncpg.Record]] = {}
    async with fresh_pool.acquire() as conn:
        for kind, run in runs.items():
            epoch = await _epoch(store, f"gate-{run}")
            batch, known = _prepared(commands, run, epoch)
            assert is_plain(batch)
            for k, events in enumerate(before):
                if events:
                    history = [StreamAppend(f"acct-{run}s{k}", ANY, [Noted(text="h")] * events)]
                    await store.append_prepared(
                        conn, prepare(CODEC, history, metadata=Metadata(), command_id=None,
                                      fingerprint=None, answer=None)
                    )  # fmt: skip
            for prepared in known:
                await store.append_prepared(conn, prepared)
            written = await _state(conn, run)
            sql = APPEND_BATCH if kind == "batch" else APPEND_BATCH_PLAIN
            rows[kind] = await conn.fetch(sql, *batch_arguments(batch))
            if kind == "plain" and not rows[kind]:
                assert await _state(conn, run) == written

        all_appended = all(r["outcome"] == "appended" for r in rows["batch"])
        event(f"plain: {all_appended}")  # both sides seen (--hypothesis-show-statistics)
        assert bool(rows["plain"]) == all_appended
        if all_appended:
            assert [_row(r) for r in rows["plain"]] == [_row(r) for r in rows["batch"]]
            assert await _state(conn, runs["plain"]) == await _state(conn, runs["batch"])
            positions = [p for r in rows["plain"] for p in r["positions"]]
            assert positions == sorted(positions)
            assert [r["position"] for r in rows["plain"]] == [
                r["positions"][-1] for r in rows["plain"]
            ]


def _sign_up(run: str, stream: str, command_id: str | None = None) -> PreparedAppend:
    return prepare(
        CODEC,
        [StreamAppend(f"acct-{run}{stream}", ANY, [Noted(text=stream)])],
        metadata=Metadata(actor=run),
        command_id=command_id,
        fingerprint="f" if command_id else None,
        answer=msgspec.json.encode(stream) if command_id else None,
    )


async def _log_size(conn: asyncpg.Connection) -> tuple[int, int, int]:
    return (
        await conn.fetchval("SELECT count(*) FROM events"),
        await conn.fetchval("SELECT count(*) FROM commands"),
        await conn.fetchval("SELECT count(*) FROM participant_details"),
    )


def _shapes(run: str) -> dict[str, list[PreparedAppend]]:
    """Batches whose shape alone makes them not plain."""
    no_events = prepare(
        CODEC,
        [StreamAppend(f"acct-{run}q", ANY, [])],
        metadata=Metadata(),
        command_id=f"{run}q",
        fingerprint="f",
        answer=b"1",
    )
    two_on_one = prepare(
        CODEC,
        [
            StreamAppend(f"acct-{run}r", ANY, [Noted(text="r")]),
            StreamAppend(f"acct-{run}s", ANY, []),
        ],
        metadata=Metadata(),
        command_id=None,
        fingerprint=None,
        answer=None,
    )
    return {
        "a command without events": [_sign_up(run, "a"), no_events],
        "a stream of a command without events": [two_on_one],
        "a stream twice": [_sign_up(run, "b"), _sign_up(run, "b")],
        "a command id twice": [_sign_up(run, "c", f"{run}x"), _sign_up(run, "d", f"{run}x")],
    }


@pytest.mark.parametrize(
    "shape",
    [
        "a command without events",
        "a stream of a command without events",
        "a stream twice",
        "a command id twice",
    ],
)
async def test_a_batch_not_plain_by_its_shape_is_seen_so_and_written_by_append_batch(
    fresh_pool: asyncpg.Pool, shape: str
) -> None:
    run = f"ps{next(_runs)}r"
    batch = _shapes(run)[shape]
    assert not is_plain(batch)
    async with fresh_pool.acquire() as conn:
        size = await _log_size(conn)
        assert await conn.fetch(APPEND_BATCH_PLAIN, *batch_arguments(batch)) == []
        assert await _log_size(conn) == size
        outcomes = await run_batch(conn, batch)
        assert isinstance(outcomes[0], AppendResult)


async def test_a_plain_batch_goes_through_the_plain_function_alone(
    fresh_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_batch does not call append_batch for a batch the plain function appends, and the
    personal data a command keeps is written with it."""
    monkeypatch.setattr(batcher, "APPEND_BATCH", "SELECT 1 / 0")
    run = f"pg{next(_runs)}r"
    details = ParticipantDetails(
        organisation="acme", event_id=run, participant_id="cas", name="Cas",
        email="cas@example.org", organisation_name="Guild",
    )  # fmt: skip
    async with fresh_pool.acquire() as conn:
        outcomes = await run_batch(
            conn,
            [_sign_up(run, "a", f"{run}1"), _sign_up(run, "b"), _sign_up(run, "c", f"{run}3")],
            [[], [], [details]],
        )
        kept = await conn.fetch(
            "SELECT participant_id, name, email, organisation_name FROM participant_details"
            " WHERE organisation = 'acme' AND event_id = $1",
            run,
        )
    assert [type(o) for o in outcomes] == [AppendResult] * 3
    assert [o.stream_versions for o in outcomes if isinstance(o, AppendResult)] == [(1,)] * 3
    assert [tuple(r) for r in kept] == [("cas", "Cas", "cas@example.org", "Guild")]


async def test_what_only_the_database_sees_leaves_nothing_written_then_fails_alone(
    fresh_pool: asyncpg.Pool,
) -> None:
    """Kept details and an event a CHECK refuses: the plain function writes nothing; run_batch
    then gives those commands their errors and appends their neighbours."""
    run = f"pd{next(_runs)}r"
    details = ParticipantDetails(
        organisation="acme", event_id=run, participant_id="ann", name="Ann",
        email="ann@example.org", organisation_name=None,
    )  # fmt: skip
    bad_event = PreparedEvent(0, uuid.uuid4(), "bad type!", 1, b"{}")
    bad = msgspec.structs.replace(_sign_up(run, "z"), events=(bad_event,))
    async with fresh_pool.acquire() as conn:
        first = await run_batch(conn, [_sign_up(run, "a", f"{run}1")], [[details]])
        assert isinstance(first[0], AppendResult)
        batch = [_sign_up(run, "b", f"{run}2"), _sign_up(run, "c", f"{run}3"), bad]
        kept = [[], [details], []]
        assert is_plain(batch)
        size = await _log_size(conn)
        for alone in ([0, 1], [0, 2]):  # each of the two on its own, then both
            each = [batch[i] for i in alone]
            each_kept = [kept[i] for i in alone]
            assert await conn.fetch(APPEND_BATCH_PLAIN, *batch_arguments(each, each_kept)) == []
        assert await conn.fetch(APPEND_BATCH_PLAIN, *batch_arguments(batch, kept)) == []
        assert await _log_size(conn) == size
        outcomes = await run_batch(conn, batch, kept)
    assert isinstance(outcomes[0], AppendResult)
    assert isinstance(outcomes[1], InvalidAppend)
    assert isinstance(outcomes[2], asyncpg.CheckViolationError)


async def test_a_taken_fence_or_a_stale_epoch_makes_the_batch_not_plain(
    fresh_pool: asyncpg.Pool,
) -> None:
    store = PostgresEventStore(fresh_pool, CODEC)
    run = f"pf{next(_runs)}r"
    key = f"gate-{run}"
    epoch = await _epoch(store, key)
    fenced = msgspec.structs.replace(_sign_up(run, "a"), fence=GateFence(key, epoch))
    async with fresh_pool.acquire() as conn:
        async with store.gate_fence(key):
            size = await _log_size(conn)
            assert await conn.fetch(APPEND_BATCH_PLAIN, *batch_arguments([fenced])) == []
            assert await _log_size(conn) == size
        # Released, the fence has moved the epoch on: the decision is stale (RG004 alone).
        assert await conn.fetch(APPEND_BATCH_PLAIN, *batch_arguments([fenced])) == []
        current = await conn.fetchval("SELECT epoch FROM gate_epochs WHERE event_key = $1", key)
        decided = msgspec.structs.replace(fenced, fence=GateFence(key, current))
        rows = await conn.fetch(APPEND_BATCH_PLAIN, *batch_arguments([decided]))
    assert [r["outcome"] for r in rows] == ["appended"]
