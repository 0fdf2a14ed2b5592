"""What a projection is, and what the runner hands it.

A projection owns some `rm_*` tables (created by migrations, each keyed by `generation` first) and
turns a batch of events, in global order, into changes of those tables for one generation. The
runner calls `apply` inside the transaction that also moves the projection's checkpoint, so a
batch is applied exactly once or not at all (runner.py). `apply` must depend only on the events
and on its own tables: a rebuild replays the log from position 1 into a fresh generation and
must arrive at the same rows as the live run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, TypeVar

from registry.dbtypes import Connection
from registry.eventstore import RecordedEvent


class Projection(Protocol):
    @property
    def name(self) -> str:
        """Its name in projection_state and projection_checkpoints, and on the command line."""
        ...

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables it owns (a rebuild's clean-up deletes a generation from each)."""
        ...

    async def apply(
        self, conn: Connection, generation: int, events: Sequence[RecordedEvent]
    ) -> None: ...


class Where(NamedTuple):
    """Whose stream an event is in: `event-<org>:<event>` or
    `participant-<org>:<event>:<participant>` (registry.domain.streams)."""

    organisation: str
    event_id: str
    participant_id: str | None


def where(stream_id: str) -> Where | None:
    """The organisation, event and participant of a stream id; None for streams no read model
    needs (e-mail claims)."""
    kind, _, rest = stream_id.partition("-")
    if kind == "event":
        organisation, _, event_id = rest.partition(":")
        return Where(organisation, event_id, None)
    if kind == "participant":
        organisation, event_id, participant_id = rest.split(":", 2)
        return Where(organisation, event_id, participant_id)
    return None


class Statements:
    """Statements in event order, sent as few round trips as possible: consecutive statements
    with the same SQL go in one `executemany` (asyncpg pipelines its rows)."""

    def __init__(self) -> None:
        self._runs: list[tuple[str, list[tuple[object, ...]]]] = []

    def add(self, sql: str, *args: object) -> None:
        if self._runs and self._runs[-1][0] == sql:
            self._runs[-1][1].append(args)
        else:
            self._runs.append((sql, [args]))

    async def flush(self, conn: Connection) -> None:
        for sql, rows in self._runs:
            await conn.executemany(sql, rows)
        self._runs.clear()


Key = TypeVar("Key", bound=tuple[str, ...])


async def write_net_effect(
    conn: Connection,
    generation: int,
    final: Mapping[Key, tuple[object, ...] | None],
    delete: str,
    upsert: str,
) -> None:
    """Write a batch reduced to its net effect per key: None deletes the row, a tuple upserts
    it (`delete` takes generation + key, `upsert` generation + key + values). Sorted, so that
    concurrent writers take row locks in one order."""
    gone = sorted((generation, *key) for key, row in final.items() if row is None)
    kept = sorted((generation, *key, *row) for key, row in final.items() if row is not None)
    if gone:
        await conn.executemany(delete, gone)
    if kept:
        await conn.executemany(upsert, kept)
