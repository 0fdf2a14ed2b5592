"""An event's state as of a log position, replayed from the log (API.md: every read with
`?as_of=<position or time>`; DESIGN.md section 4).

The fold starts from the nearest snapshot at or before the position (table `replay_snapshots`)
and reads only the event's own streams after it. Snapshots are taken lazily, by the fold
itself, at multiples of `every` facts of the event: a fold that passes one encodes the state at
the last it passes (one per fold, see `_snapshot_at`) and stores it once it is done, in a short
statement of its own (a lost snapshot costs the next fold time, never an answer). So a query
folds at most `every` facts past the nearest snapshot once a query at or after its position
has been answered. Lazy rather than a background task: nothing to run or watch, an event nobody
asks about costs nothing, and snapshots land where auditors look (figures: bench/as_of.py).

Positions, not clocks, order the log: a time stands for the last position recorded at or
before it (`recorded_at` is the append's clock, and appends running at the same time can record
their clocks in another order than their positions).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

import asyncpg
import structlog

from registry.audit import replay_snapshot
from registry.audit.replay_answers import Listed
from registry.audit.replay_fold import Replayed, apply
from registry.dbtypes import Connection
from registry.domain.event import Event
from registry.domain.streams import event_stream, participant_stream_prefix
from registry.eventstore import EventCodec
from registry.eventstore.archived import refuse_archived_between

DEFAULT_EVERY: Final = 1000
#: Rows fetched at a time while folding (the fold streams the log; it never holds all of it).
FETCH: Final = 2000

NEAREST_SNAPSHOT: Final = """
SELECT state FROM replay_snapshots
 WHERE organisation = $1 AND event_id = $2 AND format = $3 AND position <= $4
 ORDER BY position DESC
 LIMIT 1
"""
SAVE_SNAPSHOTS: Final = """
INSERT INTO replay_snapshots (organisation, event_id, format, position, facts, state)
SELECT $1, $2, $3, p, f, s FROM unnest($4::bigint[], $5::bigint[], $6::bytea[]) AS t(p, f, s)
ON CONFLICT DO NOTHING
"""
# The event's stream and its participants' streams, in position order, after where the fold
# starts ($3) up to the position asked for ($4). The caller has waited for the log's fenced head
# to reach $4, and every position up to the head is final (0018_log_fence.sql: positions are
# drawn in transaction-id order), so no fence is taken here.
_OF_THE_EVENT: Final = """
  FROM events
 WHERE position > $3 AND position <= $4
   AND (stream_id = $1 OR stream_id LIKE $2 || '%')
"""
FACTS: Final = f"""
SELECT position, stream_id, type, schema_version, data::text AS data, recorded_at
{_OF_THE_EVENT}
 ORDER BY position
"""
COUNT_FACTS: Final = f"SELECT count(*) {_OF_THE_EVENT}"
# The last position recorded at or before a time, among the final ones: scanned backwards on
# the position index, so the cost grows with what was appended after that time.
AT_TIME: Final = """
SELECT coalesce((SELECT position FROM events
                  WHERE position <= $2 AND recorded_at <= $1
                  ORDER BY position DESC
                  LIMIT 1), 0)
"""
NOW: Final = "SELECT clock_timestamp()"
DETAILS: Final = """
SELECT participant_id, name, erased_at IS NOT NULL AS erased FROM participant_details
 WHERE organisation = $1 AND event_id = $2 AND participant_id = ANY($3::text[])
"""

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Fact:
    position: int
    stream_id: str
    event: Event
    recorded_at: dt.datetime


def parse_as_of(text: str) -> int | dt.datetime:
    """A position (a whole number) or an ISO 8601 time with an offset; ValueError otherwise."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time needs an offset (e.g. 2024-01-11T10:00:00+01:00 or ...Z)")
    return moment


async def position_at(pool: asyncpg.Pool, moment: dt.datetime, head: int) -> int:
    """The last position up to `head` recorded at or before `moment` (0: none)."""
    async with pool.acquire() as conn:
        position: int = await conn.fetchval(AT_TIME, moment, head)
    return position


async def database_now(pool: asyncpg.Pool) -> dt.datetime:
    async with pool.acquire() as conn:
        now: dt.datetime = await conn.fetchval(NOW)
    return now


@dataclass
class Replay:
    """Folds one event's streams up to a position. `every` is the snapshot interval in facts
    of the event; 0 neither reads nor writes snapshots (what `registry verify` uses)."""

    pool: asyncpg.Pool
    codec: EventCodec
    every: int = DEFAULT_EVERY
    #: Snapshots written by this object, and where its last fold started (for tests and the
    #: bench).
    written: list[tuple[str, str, int]] = field(default_factory=list)
    started_from: int = 0

    async def state(self, organisation: str, event_id: str, position: int) -> Replayed:
        start = await self._nearest(organisation, event_id, position)
        state = start or Replayed(organisation, event_id)
        self.started_from = state.position
        streams = (
            event_stream(organisation, event_id),
            _like_prefix(participant_stream_prefix(organisation, event_id)),
            state.position,
            position,
        )
        taken: tuple[int, int, bytes] | None = None
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            # Positions after the fold's start that were archived would be skipped silently.
            await refuse_archived_between(conn, state.position + 1, position)
            snap_at = await self._snapshot_at(conn, state, streams)
            async for row in conn.cursor(FACTS, *streams, prefetch=FETCH):
                event = self.codec.decode(row["type"], row["schema_version"], row["data"])
                apply(state, _Fact(row["position"], row["stream_id"], event, row["recorded_at"]))
                if state.count == snap_at:
                    taken = (state.position, state.count, replay_snapshot.encode(state))
        if taken is not None:
            await self._save(organisation, event_id, [taken])
        return state

    async def _snapshot_at(
        self, conn: Connection, state: Replayed, streams: tuple[str, str, int, int]
    ) -> int | None:
        """The fact count to take a snapshot at: the last multiple of `every` this fold passes.
        One per fold: encoding a large state costs about as much as folding a few thousand
        facts, so one at every multiple on the way would make a first long fold several times
        slower; the one nearest the position asked for serves the queries that follow."""
        if not self.every:
            return None
        ahead: int = await conn.fetchval(COUNT_FACTS, *streams)
        last = (state.count + ahead) // self.every * self.every
        return last if last > state.count else None

    async def _nearest(self, organisation: str, event_id: str, position: int) -> Replayed | None:
        if not self.every:
            return None
        async with self.pool.acquire() as conn:
            data = await conn.fetchval(
                NEAREST_SNAPSHOT, organisation, event_id, replay_snapshot.FORMAT, position
            )
        return None if data is None else replay_snapshot.decode(data, organisation, event_id)

    async def _save(
        self, organisation: str, event_id: str, taken: list[tuple[int, int, bytes]]
    ) -> None:
        try:
            async with self.pool.acquire() as conn:
                await conn.execute(
                    SAVE_SNAPSHOTS,
                    organisation,
                    event_id,
                    replay_snapshot.FORMAT,
                    [p for p, _, _ in taken],
                    [f for _, f, _ in taken],
                    [s for _, _, s in taken],
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # An optimisation lost: the answer stands; the next fold takes them again.
            log.warning("replay snapshots not saved", event_id=event_id, exc_info=True)
            return
        self.written += [(organisation, event_id, p) for p, _, _ in taken]


def _like_prefix(prefix: str) -> str:
    """Escape LIKE's wildcards so that the prefix is matched literally."""
    return prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


async def details_of(
    pool: asyncpg.Pool, organisation: str, event_id: str, participants: set[str]
) -> dict[str, tuple[str | None, bool]]:
    """Names as the live reads show them: from participant_details when they answer (an
    erasure shows in every answer at once, as of any position)."""
    if not participants:
        return {}
    async with pool.acquire() as conn:
        rows = await conn.fetch(DETAILS, organisation, event_id, sorted(participants))
    return {row["participant_id"]: (row["name"], row["erased"]) for row in rows}


async def named(pool: asyncpg.Pool, state: Replayed, listed: Listed) -> Listed:
    """A page built without details (replay_answers), with the names of the participants it
    shows looked up for that page only."""
    answer, more = listed
    people = [item for item in answer["items"] if "participant_id" in item]  # not rooms
    wanted = {item["participant_id"] for item in people}
    details = await details_of(pool, state.organisation, state.event_id, wanted)
    for item in people:
        item["name"], item["erased"] = details.get(item["participant_id"], (None, False))
    return answer, more
