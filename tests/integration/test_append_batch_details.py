"""Personal data in the batched append (append_batch, migrations/0069): a registration's details
are written in its command's subtransaction, so they commit with its events, a command whose
participant has details already fails alone (as alone it raises InvalidAppend), a replayed
command writes none twice; and the previous signature still appends, for a process of the
previous release during a rolling deploy."""

from __future__ import annotations

import itertools

import asyncpg
import msgspec

from registry.eventstore import NO_STREAM, AppendResult, InvalidAppend, Metadata, StreamAppend
from registry.eventstore.batcher import APPEND_BATCH, batch_arguments, run_batch
from registry.eventstore.personal import ParticipantDetails
from registry.eventstore.postgres import PostgresEventStore
from registry.eventstore.prepare import PreparedAppend, prepare
from tests.support.events import Noted, test_codec

CODEC = test_codec()
_runs = itertools.count()


def _registration(run: str, who: str, command_id: str | None = None) -> PreparedAppend:
    return prepare(
        CODEC,
        [StreamAppend(f"participant-{run}{who}", NO_STREAM, [Noted(text=who)])],
        metadata=Metadata(actor=run),
        command_id=command_id,
        fingerprint="f" if command_id else None,
        answer=msgspec.json.encode({"participant_id": who}) if command_id else None,
    )


def _details(run: str, who: str, name: str) -> ParticipantDetails:
    return ParticipantDetails(
        organisation="acme",
        event_id=run,
        participant_id=who,
        name=name,
        email=f"{who}@example.org",
        organisation_name="Guild" if who == "ann" else None,
    )


async def _kept(conn: asyncpg.Connection, run: str) -> dict[str, tuple[str, str, str | None]]:
    rows = await conn.fetch(
        "SELECT participant_id, name, email, organisation_name FROM participant_details"
        " WHERE organisation = 'acme' AND event_id = $1",
        run,
    )
    return {r["participant_id"]: (r["name"], r["email"], r["organisation_name"]) for r in rows}


async def _events(conn: asyncpg.Connection, run: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT stream_id FROM events WHERE stream_id LIKE $1 ORDER BY position",
        f"participant-{run}%",
    )
    return [r["stream_id"].removeprefix(f"participant-{run}") for r in rows]


async def test_details_commit_with_their_command_and_a_kept_participant_fails_alone(
    fresh_pool: asyncpg.Pool,
) -> None:
    run = f"d{next(_runs)}r"
    alone = PostgresEventStore(fresh_pool, CODEC, append_batch=0)
    await alone.append(
        [StreamAppend(f"participant-{run}bob", NO_STREAM, [Noted(text="bob")])],
        personal=[_details(run, "bob", "Bob")],
    )
    batch = [
        _registration(run, "ann", command_id=f"{run}-ann"),
        _registration(run, "bob2"),  # a new stream, but bob's details: the key is taken
        _registration(run, "cas"),
        _registration(run, "ann", command_id=f"{run}-ann"),  # a repeat within the batch
    ]
    details = [
        [_details(run, "ann", "Ann")],
        [_details(run, "bob", "Robert")],
        [_details(run, "cas", "Cas")],
        [_details(run, "ann", "Ann")],
    ]
    async with fresh_pool.acquire() as conn:
        outcomes = await run_batch(conn, batch, details)
        assert isinstance(outcomes[0], AppendResult) and not outcomes[0].replayed
        assert isinstance(outcomes[1], InvalidAppend)
        assert "kept already" in str(outcomes[1])
        assert isinstance(outcomes[2], AppendResult)
        assert isinstance(outcomes[3], AppendResult) and outcomes[3].replayed
        assert outcomes[3].position == outcomes[0].position
        assert await _kept(conn, run) == {
            "ann": ("Ann", "ann@example.org", "Guild"),
            "bob": ("Bob", "bob@example.org", None),  # not overwritten by the refused command
            "cas": ("Cas", "cas@example.org", None),
        }
        assert await _events(conn, run) == ["bob", "ann", "cas"]  # nothing of bob2

        # Sent again later (a retry with its Idempotency-Key): answered as the first time, and
        # its details, whose key is taken now, are not written again (no RG005).
        again = await run_batch(conn, [batch[0]], [details[0]])
        assert isinstance(again[0], AppendResult) and again[0].replayed
        assert again[0].position == outcomes[0].position


async def test_the_previous_signature_appends_without_details(fresh_pool: asyncpg.Pool) -> None:
    run = f"d{next(_runs)}r"
    arguments = batch_arguments([_registration(run, "dee")])
    fifteen = APPEND_BATCH.replace(", $16::jsonb[])", ")")
    assert fifteen != APPEND_BATCH
    async with fresh_pool.acquire() as conn:
        rows = await conn.fetch(fifteen, *arguments[:15])
        assert [r["outcome"] for r in rows] == ["appended"]
        assert await _events(conn, run) == ["dee"]
        assert await _kept(conn, run) == {}
