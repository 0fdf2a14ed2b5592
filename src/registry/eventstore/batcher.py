"""Group commit for appends: the commands that arrive while this process's previous batches are
in flight go to PostgreSQL together, in one transaction (append_batch, migrations/0046).

Why: a sign-up's append is a few rows, and what it costs PostgreSQL is mostly the fixed price of
a transaction (the position lock, the NOTIFY that serializes commits, the commit). Gathering the
commands that queue up under load into one transaction pays that price once per batch. Nothing
waits for a batch to fill: a command that finds a free slot (fewer than `max_in_flight` batches
out) goes at once, alone if it is alone; under load each batch takes whatever queued meanwhile.
This is PostgreSQL's own group commit, one level up; see also
https://www.postgresql.org/docs/current/wal-async-commit.html for why we keep commits durable.

Each command keeps what it would have alone (append_batch's per-command subtransactions): its
expected versions, its gate fence, its idempotency, its personal data (a registration's details,
migrations/0069), its answer or its own typed error. What the
batch cannot decide alone it hands back: a command whose gate fence is taken is appended alone
(which waits for the fence), a twin's result is read once the batch has committed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import asyncpg
import msgspec

from registry.dbtypes import Connection
from registry.eventstore import clean_release
from registry.eventstore.model import AppendResult
from registry.eventstore.personal import ParticipantDetails
from registry.eventstore.pg_outcomes import appended, refusal, replay, stored_command
from registry.eventstore.prepare import PreparedAppend

#: append_batch refuses more than 60 commands (64 subtransaction ids fit PostgreSQL's cache).
MAX_COMMANDS: Final = 50

APPEND_BATCH: Final = """
SELECT outcome, replayed, positions, "position", stream_versions, answer::text AS answer,
       detail, message
  FROM append_batch($1, $2, $3::jsonb[], $4::jsonb[], $5, $6, $7, $8, $9, $10, $11, $12, $13,
                    $14, $15::jsonb[], $16::jsonb[])
"""

#: The same arguments, for a batch in which no command needs deciding alone (migrations/0070):
#: every row back 'appended', or no rows and nothing written (then APPEND_BATCH decides each).
APPEND_BATCH_PLAIN: Final = """
SELECT outcome, replayed, positions, "position", stream_versions, answer::text AS answer,
       detail, message
  FROM append_batch_plain($1, $2, $3::jsonb[], $4::jsonb[], $5, $6, $7, $8, $9, $10, $11, $12,
                          $13, $14, $15::jsonb[], $16::jsonb[])
"""

#: A command's details as append_batch reads them: a JSON array of participant_details rows.
_DETAILS: Final = msgspec.json.Encoder()

#: A command, the personal data written with it (a registration's details), and its answer.
Queued = tuple[PreparedAppend, Sequence[ParticipantDetails], "asyncio.Future[AppendResult]"]
#: Appends one command alone (the store's single path): for commands the batch hands back.
AppendAlone = Callable[[PreparedAppend, Sequence[ParticipantDetails]], Awaitable[AppendResult]]


class AppendBatcher:
    """One per store (so one per process): appends through batches of at most `max_commands`,
    with at most `max_in_flight` batches out at a time."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        append_alone: AppendAlone,
        *,
        max_commands: int = MAX_COMMANDS,
        max_in_flight: int = 1,
    ) -> None:
        if not 1 <= max_commands <= MAX_COMMANDS:
            raise ValueError(f"a batch holds 1 to {MAX_COMMANDS} commands")
        if max_in_flight < 1:
            raise ValueError("at least one batch must be allowed in flight")
        self._pool = pool
        self._append_alone = append_alone
        self._max_commands = max_commands
        self._max_in_flight = max_in_flight
        self._queue: list[Queued] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Batches sent and commands in them, for the metrics and the benchmarks.
        self.batches = 0
        self.commands = 0

    async def append(
        self, prepared: PreparedAppend, details: Sequence[ParticipantDetails] = ()
    ) -> AppendResult:
        """`details`: personal data written in the command's subtransaction (append_batch,
        migrations/0069), as the store writes it beside an append alone."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append((prepared, details, future))
        self._send()
        # A caller cancelled meanwhile leaves its command in the batch: it may commit all the
        # same, as a single append cancelled mid-flight may (seat_appends rebuilds the gate).
        return await future

    def _send(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            batch = self._queue[: self._max_commands]
            del self._queue[: self._max_commands]
            self._in_flight += 1
            task = asyncio.create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        self._send()

    async def _flush(self, batch: list[Queued]) -> None:
        self.batches += 1
        self.commands += len(batch)
        try:
            async with self._pool.acquire() as conn:
                outcomes = await run_batch(
                    conn, [prepared for prepared, _, _ in batch], [d for _, d, _ in batch]
                )
                clean_release.mark_clean(conn)  # append_batch returned: its lock is released
        except BaseException as error:  # the batch as a whole: nothing of it is known to stand
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        alone = [
            queued for queued, outcome in zip(batch, outcomes, strict=True) if outcome is FENCED
        ]
        for (_, _, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, _Fenced) or future.done():
                continue
            if isinstance(outcome, AppendResult):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)
        # The fenced go alone, each in a task of its own: an append alone waits for its fence
        # (an organiser's change, a rebuild), and a batch slot held meanwhile would hold up
        # every other event's appends in this process (with one slot, all of them).
        for queued in alone:
            task = asyncio.create_task(self._alone(*queued))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _alone(
        self,
        prepared: PreparedAppend,
        details: Sequence[ParticipantDetails],
        future: asyncio.Future[AppendResult],
    ) -> None:
        try:
            result = await self._append_alone(prepared, details)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
            return
        if not future.done():
            future.set_result(result)


class _Fenced:
    """The outcome of a command the batch left alone because its gate's fence was taken."""


FENCED: Final = _Fenced()


async def run_batch(
    conn: Connection,
    batch: Sequence[PreparedAppend],
    details: Sequence[Sequence[ParticipantDetails]] = (),
) -> list[AppendResult | Exception | _Fenced]:
    """One append_batch statement (its own transaction) and each command's outcome, in order:
    its result, its typed error, or FENCED. Raises only what fails the batch as a whole.
    `details`: each command's personal data (none if empty).

    A plain batch (`is_plain`) goes first in one statement per table (append_batch_plain: about
    two thirds of append_batch's PostgreSQL CPU a command); if the database finds it not plain
    after all (a replay, a fence, a stale epoch, a version, a twin, kept details, a refused
    event), nothing was written and append_batch decides each command as before."""
    arguments = batch_arguments(batch, details)
    if is_plain(batch):
        rows = await conn.fetch(APPEND_BATCH_PLAIN, *arguments)
        if rows:
            return [appended(row) for row in rows]
    rows = await conn.fetch(APPEND_BATCH, *arguments)
    ids = Counter(prepared.command_id for prepared in batch)
    outcomes: list[AppendResult | Exception | _Fenced] = []
    for prepared, row in zip(batch, rows, strict=True):
        outcome: str = row["outcome"]
        if outcome in ("appended", "replayed"):
            outcomes.append(appended(row))
        elif outcome == "fenced":
            outcomes.append(FENCED)
        elif outcome == "twin" or (
            outcome == "RG001" and prepared.command_id is not None and ids[prepared.command_id] == 1
        ):
            # A twin in another transaction committed first; on RG001 one may have won the
            # stream. (Twins within the batch were settled in order by append_batch.)
            outcomes.append(await _twin(conn, prepared, row))
        else:
            outcomes.append(_error(row))
    return outcomes


def is_plain(batch: Sequence[PreparedAppend]) -> bool:
    """What the batch itself shows of append_batch_plain's conditions (migrations/0070): every
    command has events, on every stream it names; no stream and no command id comes twice. The
    rest (replays, fences, epochs, versions, twins) only the database can tell."""
    streams: set[str] = set()
    ids: set[str] = set()
    for prepared in batch:
        if not prepared.events:
            return False
        if len({event.stream_index for event in prepared.events}) != len(prepared.streams):
            return False
        if prepared.command_id is not None:
            if prepared.command_id in ids:
                return False
            ids.add(prepared.command_id)
        for stream in prepared.streams:
            if stream in streams:
                return False
            streams.add(stream)
    return True


async def _twin(conn: Connection, prepared: PreparedAppend, row: asyncpg.Record) -> Any:
    assert prepared.command_id is not None
    stored = await stored_command(conn, prepared.command_id)
    if stored is None:
        return _error(row)  # RG001 and no twin: the version conflict stands
    try:
        return replay(prepared, stored)
    except Exception as error:
        return error


def _error(row: asyncpg.Record) -> Exception:
    sqlstate: str = row["outcome"]
    message: str = row["message"] or sqlstate
    typed = refusal(sqlstate, row["detail"], message)
    if typed is not None:
        return typed
    # Any other error of one command (a CHECK on the events table, say) is raised as asyncpg
    # would have raised it for that command alone.
    fields = {"C": sqlstate, "M": message}
    if row["detail"] is not None:
        fields["D"] = row["detail"]
    return asyncpg.PostgresError.new(fields)


def batch_arguments(
    batch: Sequence[PreparedAppend], details: Sequence[Sequence[ParticipantDetails]] = ()
) -> tuple[list[Any], ...]:
    """append_batch's sixteen arrays (migrations/0046: per command, per stream, per event;
    0069: per command, its personal data as a JSON array or NULL)."""
    command_ids: list[str | None] = []
    fingerprints: list[str | None] = []
    answers: list[str | None] = []
    metadata: list[str] = []
    gate_keys: list[str | None] = []
    gate_epochs: list[int | None] = []
    stream_counts: list[int] = []
    event_counts: list[int] = []
    stream_ids: list[str] = []
    expected: list[int | None] = []
    event_streams: list[int] = []
    event_ids: list[Any] = []
    types: list[str] = []
    schema_versions: list[int] = []
    data: list[str] = []
    kept: list[str | None] = [
        _DETAILS.encode(d).decode() if d else None for d in details or [()] * len(batch)
    ]
    for prepared in batch:
        command_ids.append(prepared.command_id)
        fingerprints.append(prepared.fingerprint)
        answers.append(None if prepared.answer is None else prepared.answer.decode())
        metadata.append(prepared.metadata.decode())
        gate_keys.append(None if prepared.fence is None else prepared.fence.key)
        gate_epochs.append(None if prepared.fence is None else prepared.fence.epoch)
        stream_counts.append(len(prepared.streams))
        event_counts.append(len(prepared.events))
        stream_ids.extend(prepared.streams)
        expected.extend(prepared.expected)
        for event in prepared.events:
            event_streams.append(event.stream_index + 1)
            event_ids.append(event.event_id)
            types.append(event.type)
            schema_versions.append(event.schema_version)
            data.append(event.data.decode())
    return (
        command_ids,
        fingerprints,
        answers,
        metadata,
        gate_keys,
        gate_epochs,
        stream_counts,
        event_counts,
        stream_ids,
        expected,
        event_streams,
        event_ids,
        types,
        schema_versions,
        data,
        kept,
    )
