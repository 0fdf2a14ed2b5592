"""What PostgreSQL's append functions answer, as the store's results and typed errors.

Shared by the single append (append_events, migrations/0020) and the batched one (append_batch,
migrations/0046), so that a command refused in a batch raises exactly what it would alone.
"""

from __future__ import annotations

from typing import Final

import asyncpg
import msgspec

from registry.dbtypes import Connection
from registry.eventstore.errors import (
    AppendNotFirstWrite,
    CommandIdReused,
    InvalidAppend,
    StaleGateDecision,
    WrongExpectedVersion,
)
from registry.eventstore.model import AppendResult
from registry.eventstore.prepare import PreparedAppend

WRONG_VERSION: Final = "RG001"
NOT_FIRST_WRITE: Final = "RG002"
COMMAND_REUSED: Final = "RG003"
STALE_GATE: Final = "RG004"
#: append_batch (0069): the participant has personal data kept already.
DETAILS_KEPT: Final = "RG005"

COMMAND: Final = """
SELECT fingerprint, positions, "position", stream_versions, answer::text AS answer
  FROM commands WHERE command_id = $1
"""

StoredCommand = tuple[str | None, AppendResult]


def refusal(sqlstate: str, detail: str | None, message: str) -> Exception | None:
    """The typed error of one of our SQLSTATEs (RG001 - RG005), or None for any other."""
    if sqlstate == WRONG_VERSION:
        fields = msgspec.json.decode(detail or "{}")
        return WrongExpectedVersion(fields["stream_id"], fields["expected"], fields["actual"])
    if sqlstate == NOT_FIRST_WRITE:
        return AppendNotFirstWrite(message)
    if sqlstate == STALE_GATE:
        fields = msgspec.json.decode(detail or "{}")
        return StaleGateDecision(fields["gate_key"], fields["epoch"], fields["current"])
    if sqlstate == COMMAND_REUSED:
        fields = msgspec.json.decode(detail or "{}")
        return CommandIdReused(fields["command_id"])
    if sqlstate == DETAILS_KEPT:
        return InvalidAppend(message)
    return None


def appended(row: asyncpg.Record) -> AppendResult:
    """An append's result from a row with positions, position, stream_versions, replayed and
    answer (jsonb as text)."""
    answer = row["answer"]
    return AppendResult(
        positions=tuple(row["positions"]),
        position=row["position"],
        stream_versions=tuple(row["stream_versions"]),
        replayed=row["replayed"],
        answer=None if answer is None else answer.encode(),
    )


async def stored_command(conn: Connection, command_id: str) -> StoredCommand | None:
    """The fingerprint and the stored result of a recorded command id, if any."""
    row = await conn.fetchrow(COMMAND, command_id)
    return None if row is None else stored_from_row(row)


def stored_from_row(row: asyncpg.Record) -> StoredCommand:
    """A `commands` row (fingerprint, positions, position, stream_versions, answer as text) as
    the fingerprint and the result a repeat of the command gets."""
    answer = row["answer"]
    return row["fingerprint"], AppendResult(
        positions=tuple(row["positions"]),
        position=row["position"],
        stream_versions=tuple(row["stream_versions"]),
        replayed=True,
        answer=None if answer is None else answer.encode(),
    )


def replay(prepared: PreparedAppend, stored: StoredCommand) -> AppendResult:
    """The stored result of a command run before, if it was this same command."""
    fingerprint, result = stored
    if fingerprint != prepared.fingerprint:
        assert prepared.command_id is not None
        raise CommandIdReused(prepared.command_id)
    return result
