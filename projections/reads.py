"""The organisers' reads (API.md "Reads"), answered from the read models.

Each read names the projections it joins, waits until all of them have reached `after` (read
your writes: up to 5 s, then `NotCaughtUp`), and answers with the lowest of their live positions
(what the answer reflects for sure). The live generations and the rows are read in one
REPEATABLE READ snapshot, so a rebuild's swap or clean-up never shows half a model.
Times come back in UTC (ISO 8601 with offset); lists are keyset-paged (`cursor`). Items that
carry a participant's name carry `erased` too: an erased participant reads as `name: null`,
`erased: true` (names are read from `participant_details` when the read answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from projections import checkpoints
from projections.read_queries import (
    ATTENDEES,
    CONFLICTS,
    EVENT_EXISTS,
    GENERATIONS,
    OCCUPANCY,
    ROOM_RANGES,
    ROOMS,
    SESSION,
    WAITLIST,
)
from registry.dbtypes import Connection
from registry.domain.streams import event_stream
from registry.eventstore import clean_release

WAIT_FOR_POSITION_S: Final = 5.0
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


class NotCaughtUp(Exception):
    """The read models have not reached the position asked for within the wait."""

    def __init__(self, after: int) -> None:
        super().__init__(f"position {after} is not in the read models yet; retry shortly")
        self.after = after


class UnknownEvent(LookupError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"unknown event: {event_id}")
        self.event_id = event_id


class UnknownSession(LookupError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown session: {session_id}")
        self.session_id = session_id


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


async def wait_for(pool: asyncpg.Pool, names: Sequence[str], after: int | None) -> None:
    """Return once every projection named has reached `after` (NotCaughtUp after 5 s)."""
    if after is None:
        return
    deadline = time.monotonic() + WAIT_FOR_POSITION_S
    while True:
        async with pool.acquire() as conn:
            reached = await checkpoints.positions(conn, list(names))
            clean_release.mark_clean(conn)  # one SELECT
        if min(reached.values(), default=0) >= after:
            return
        if time.monotonic() > deadline:
            raise NotCaughtUp(after)
        await asyncio.sleep(0.01)


class _Snapshot:
    """The live generation of each projection named, and the lowest position among them."""

    def __init__(self, rows: Sequence[asyncpg.Record], names: Sequence[str]) -> None:
        found = {row["name"]: (int(row["live_generation"]), int(row["position"])) for row in rows}
        self.generation = {name: found.get(name, (1, 0))[0] for name in names}
        self.position = min((found.get(name, (1, 0))[1] for name in names), default=0)

    def __getitem__(self, name: str) -> int:
        return self.generation[name]


@contextlib.asynccontextmanager
async def _snapshot_reader(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A connection in a read-only repeatable-read transaction: every query of one read sees
    the same snapshot. Once it has ended without an error the connection goes back without the
    pool's reset round trip: a read-only transaction leaves no session state behind
    (registry.eventstore.clean_release)."""
    async with pool.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            yield conn
        clean_release.mark_clean(conn)


async def _snapshot(conn: Connection, names: Sequence[str]) -> _Snapshot:
    return _Snapshot(await conn.fetch(GENERATIONS, list(names)), names)


async def _known_event(conn: Connection, organisation: str, event_id: str) -> None:
    if not await conn.fetchval(EVENT_EXISTS, event_stream(organisation, event_id)):
        raise UnknownEvent(event_id)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# -- the reads ------------------------------------------------------------------------------------


async def occupancy(
    pool: asyncpg.Pool, organisation: str, event_id: str, after: int | None = None
) -> dict[str, Any]:
    names = ("catalog", "occupancy")
    await wait_for(pool, names, after)
    async with _snapshot_reader(pool) as conn:
        await _known_event(conn, organisation, event_id)
        snap = await _snapshot(conn, names)
        rows = await conn.fetch(
            OCCUPANCY, snap["catalog"], organisation, event_id, snap["occupancy"]
        )
    return {"position": snap.position, "sessions": [_occupancy(row) for row in rows]}


def _occupancy(row: asyncpg.Record) -> dict[str, Any]:
    capacity, seated = row["capacity"], row["seated"]
    return {
        "session_id": row["session_id"],
        "title": row["title"],
        "room_id": row["room_id"],
        "starts_at": _iso(row["starts_at"]),
        "ends_at": _iso(row["ends_at"]),
        "capacity": capacity,
        "seated": seated,
        "waitlisted": row["waitlisted"],
        "free": None if capacity is None else max(0, capacity - seated),
        "over_capacity": 0 if capacity is None else max(0, seated - capacity),
        "state": row["state"],
    }


async def rooms(
    pool: asyncpg.Pool, organisation: str, event_id: str, page: Page, after: int | None = None
) -> tuple[dict[str, Any], str | None]:
    """Rooms by id with their sessions' ranges by start time; returns the answer and the
    cursor of the next page (None on the last)."""
    names = ("catalog", "occupancy")
    await wait_for(pool, names, after)
    async with _snapshot_reader(pool) as conn:
        await _known_event(conn, organisation, event_id)
        snap = await _snapshot(conn, names)
        found = await conn.fetch(
            ROOMS, snap["catalog"], organisation, event_id, page.cursor or "", page.limit + 1
        )
        shown = found[: page.limit]
        ranges = await conn.fetch(
            ROOM_RANGES,
            snap["catalog"],
            organisation,
            event_id,
            snap["occupancy"],
            [row["room_id"] for row in shown],
        )
    by_room: dict[str, list[dict[str, Any]]] = {row["room_id"]: [] for row in shown}
    for row in ranges:
        by_room[row["room_id"]].append(
            {
                "starts_at": _iso(row["starts_at"]),
                "ends_at": _iso(row["ends_at"]),
                "session_id": row["session_id"],
                "capacity": row["capacity"],
                "seated": row["seated"],
            }
        )
    items = [
        {
            "room_id": row["room_id"],
            "name": row["name"],
            "capacity": row["capacity"],
            "ranges": by_room[row["room_id"]],
        }
        for row in shown
    ]
    more = shown[-1]["room_id"] if len(found) > page.limit else None
    return {"position": snap.position, "items": items}, more


async def attendees(
    pool: asyncpg.Pool,
    organisation: str,
    event_id: str,
    session_id: str,
    page: Page,
    after: int | None = None,
) -> tuple[dict[str, Any], str | None]:
    names = ("catalog", "seats")
    await wait_for(pool, names, after)
    async with _snapshot_reader(pool) as conn:
        await _known_event(conn, organisation, event_id)
        snap = await _snapshot(conn, names)
        await _known_session(conn, snap, organisation, event_id, session_id)
        found = await conn.fetch(
            ATTENDEES,
            snap["seats"],
            organisation,
            event_id,
            session_id,
            _int_cursor(page),
            page.limit + 1,
        )
    shown = found[: page.limit]
    items = [
        {
            "participant_id": r["participant_id"],
            "name": r["name"],
            "erased": r["erased"],
            "seated_at": _iso(r["seated_at"]),
        }
        for r in shown
    ]
    more = str(shown[-1]["seated_position"]) if len(found) > page.limit else None
    return {"position": snap.position, "items": items}, more


async def waitlist(
    pool: asyncpg.Pool,
    organisation: str,
    event_id: str,
    session_id: str,
    page: Page,
    after: int | None = None,
) -> tuple[dict[str, Any], str | None]:
    names = ("catalog", "seats", "waitlists")
    await wait_for(pool, names, after)
    async with _snapshot_reader(pool) as conn:
        await _known_event(conn, organisation, event_id)
        snap = await _snapshot(conn, names)
        target = await _known_session(conn, snap, organisation, event_id, session_id)
        found = await conn.fetch(
            WAITLIST,
            snap["waitlists"],
            organisation,
            event_id,
            session_id,
            snap["catalog"],
            snap["seats"],
            target["starts_at"],
            target["ends_at"],
            _int_cursor(page),
            page.limit + 1,
        )
    shown = found[: page.limit]
    items = [
        {
            "participant_id": r["participant_id"],
            "name": r["name"],
            "erased": r["erased"],
            "waitlist_position": r["waitlist_position"],
            "fallback_session_id": r["fallback_session_ids"][0]
            if r["fallback_session_ids"]
            else None,
            "fallback_session_ids": list(r["fallback_session_ids"]),
        }
        for r in shown
    ]
    more = str(shown[-1]["ticket"]) if len(found) > page.limit else None
    return {"position": snap.position, "items": items}, more


async def conflicts(
    pool: asyncpg.Pool, organisation: str, event_id: str, page: Page, after: int | None = None
) -> tuple[dict[str, Any], str | None]:
    names = ("catalog", "seats")
    await wait_for(pool, names, after)
    async with _snapshot_reader(pool) as conn:
        await _known_event(conn, organisation, event_id)
        snap = await _snapshot(conn, names)
        found = await conn.fetch(
            CONFLICTS,
            snap["seats"],
            organisation,
            event_id,
            snap["catalog"],
            page.cursor or "",
            page.limit + 1,
        )
    shown = found[: page.limit]
    items = [
        {
            "participant_id": r["participant_id"],
            "name": r["name"],
            "erased": r["erased"],
            "session_ids": list(r["session_ids"]),
        }
        for r in shown
    ]
    more = shown[-1]["participant_id"] if len(found) > page.limit else None
    return {"position": snap.position, "items": items}, more


async def _known_session(
    conn: Connection, snap: _Snapshot, organisation: str, event_id: str, session_id: str
) -> asyncpg.Record:
    row = await conn.fetchrow(SESSION, snap["catalog"], organisation, event_id, session_id)
    if row is None:
        raise UnknownSession(session_id)
    return row


def _int_cursor(page: Page) -> int:
    try:
        return int(page.cursor) if page.cursor else 0
    except ValueError:
        return 0
