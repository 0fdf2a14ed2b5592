"""What must hold after any load, however the processes and servers under it failed:

- the log keeps every rule: `registry verify`'s checks (registry.audit.verify: the chain, every
  fact folds, no session over capacity through a sign-up, promotions to the head of the queue,
  read models equal to their replay);
- every acknowledged command is in the log exactly once: each command id's facts come from one
  transaction, and each acknowledged answer's position is a fact of a command that wrote to
  that participant's stream;
- the gate agrees with the log: rebuilt from the log, it holds what it held (no hold left).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import asyncpg

from registry.archive.store import ArchiveReadingStore
from registry.audit.verify import verify
from registry.capacity.gate import CapacityGate
from registry.domain.events import ALL_EVENTS
from registry.domain.seating import Seating
from registry.domain.streams import event_key, participant_stream
from registry.eventstore import EventCodec
from registry.eventstore.postgres import PostgresEventStore
from registry.handlers.gate_sync import rebuild

#: Command ids whose facts came from more than one transaction (appended twice).
APPENDED_TWICE: Final = """
SELECT coalesce(array_agg(command_id), '{}') FROM (
  SELECT metadata->>'command_id' AS command_id FROM events
   GROUP BY 1 HAVING count(DISTINCT transaction_id) > 1) twice
"""
#: Whether the command whose fact is at $1 wrote to the stream $2 (an answer's position is its
#: command's last fact, which may be about someone else: a promotion it caused).
COMMAND_AT_WROTE: Final = """
SELECT bool_or(stream_id = $2) FROM events
 WHERE metadata->>'command_id' = (SELECT metadata->>'command_id' FROM events WHERE position = $1)
"""


async def log_keeps_every_rule(pool: asyncpg.Pool) -> None:
    # Archived history (registry log archive) read from its files, as `registry verify` reads it.
    store = ArchiveReadingStore(pool, EventCodec(ALL_EVENTS))
    report = await verify(pool, store, EventCodec(ALL_EVENTS))
    assert report.ok, "\n".join(report.lines())


async def acknowledged_once(
    pool: asyncpg.Pool, organisation: str, event_id: str, acknowledged: Iterable[tuple[str, int]]
) -> None:
    """`acknowledged`: (participant, position answered) of every 2xx answer."""
    async with pool.acquire() as conn:
        assert await conn.fetchval(APPENDED_TWICE) == []
        for participant, position in acknowledged:
            stream = participant_stream(organisation, event_id, participant)
            assert await conn.fetchval(COMMAND_AT_WROTE, position, stream), (participant, position)


def observed(seating: Seating) -> dict[str, tuple[dict[str, int], list[str], int, int]]:
    return {
        sid: (dict(s.seated), s.queue(), s.next_ticket, s.held_back)
        for sid, s in sorted(seating.sessions.items())
    }


async def gate_agrees_with_log(
    pool: asyncpg.Pool, gate: CapacityGate, organisation: str, event_id: str
) -> None:
    """The gate holds no decision unsettled and equals its rebuild from the log."""
    key = event_key(organisation, event_id)
    live = await gate.seating(key)
    live_roster = await gate.roster(key)
    assert live.busy == {} and live.stalled == set(), "holds left unsettled"
    store = PostgresEventStore(pool, EventCodec(ALL_EVENTS))
    await rebuild(store, gate, organisation, event_id)
    assert observed(await gate.seating(key)) == observed(live), "the gate differs from the log"
    # The roster (capacity/roster.py) may lack someone whose admit was lost, never more.
    folded = await gate.roster(key)
    assert live_roster.cancelled == folded.cancelled, "the roster's cancellations differ"
    assert live_roster.registered <= folded.registered, "the roster names someone unregistered"
