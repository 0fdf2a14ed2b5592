"""One live stream: Server-Sent Events telling an organiser's page how an event's sessions fill.

Each message is

    id: <log position>
    event: occupancy
    data: {"position": P, "event_id": ..., "complete": bool, "facts": [...], "sessions": [...]}

`sessions` are rows of `GET /v1/events/{event}/occupancy` for every session a fact at a position
in (previous id, P] named (all of them when `complete`), read once every watched read model has
reached P (feed.WATCHED): the rows reflect at least P, and reads with `?after=P` answer at once.
A client that reconnects with `Last-Event-ID: P` gets exactly what changed after P. Comments
(`: keep-alive`) keep idle connections open through proxies. docs/organiser-page.md has more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import asyncpg
import msgspec

from projections import reads as rm
from registry.live.changes import EVERYTHING, Changes, changes_between
from registry.live.feed import LiveFeed

#: A comment this often when nothing is sent (proxies close connections idle for ~60 s).
HEARTBEAT_S: Final = 15.0
#: A stream ends by itself after this long; the client resumes with `Last-Event-ID` and loses
#: nothing. A bound on how long a stream can hold a server's drain should the termination
#: signal not reach the feed (a server not in the main thread: termination.py).
MAX_STREAM_S: Final = 300.0
#: The reconnection delay suggested to the client (the `retry:` field), in milliseconds.
RETRY_MS: Final = 2000
EVENT_TYPE: Final = "occupancy"
HEARTBEAT: Final = b": keep-alive\n\n"
_FAILURES: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, rm.NotCaughtUp)


def encode(position: int, body: dict[str, Any]) -> bytes:
    """One SSE message (JSON has no raw line breaks, so `data` is one line)."""
    data = msgspec.json.encode(body).decode()
    return f"id: {position}\nevent: {EVENT_TYPE}\ndata: {data}\n\n".encode()


async def live_updates(
    feed: LiveFeed,
    pool: asyncpg.Pool,
    organisation: str,
    event_id: str,
    since: int | None,
) -> AsyncIterator[bytes]:
    """The stream's bytes: everything after `since` (every session first when None), then
    each change as the read models apply it, until the client leaves, the stream has lasted
    MAX_STREAM_S, or the app shuts down. A database failure ends it too: the client resumes."""
    async with feed.subscription():
        # Sent at once: the client knows the stream is open before anything changes.
        yield f"retry: {RETRY_MS}\n\n".encode()
        cursor = since
        ends = time.monotonic() + MAX_STREAM_S
        while not feed.closing.is_set():
            moved = feed.moved()  # before reading the position: see LiveFeed.moved
            try:
                step = await _step(feed, pool, organisation, event_id, cursor)
            except _FAILURES:
                return
            if step is not None:
                cursor, message = step
                if message is not None:
                    yield message
            left = ends - time.monotonic()
            if left <= 0:
                return
            try:
                async with asyncio.timeout(min(HEARTBEAT_S, left)):
                    await moved.wait()
            except TimeoutError:
                yield HEARTBEAT


async def _step(
    feed: LiveFeed, pool: asyncpg.Pool, organisation: str, event_id: str, cursor: int | None
) -> tuple[int, bytes | None] | None:
    """The new cursor and the message to send (None: nothing of this event changed), or None
    when the read models have not moved past the cursor."""
    if cursor is None:
        upto, changes = await feed.read_position(), EVERYTHING
    else:
        upto = feed.position
        if upto <= cursor:
            return None
        changes = await changes_between(pool, organisation, event_id, cursor, upto)
    if changes.empty:
        return upto, None
    return upto, await _message(pool, organisation, event_id, upto, changes)


async def _message(
    pool: asyncpg.Pool, organisation: str, event_id: str, upto: int, changes: Changes
) -> bytes:
    answer = await rm.occupancy(pool, organisation, event_id, upto)
    rows = answer["sessions"]
    if not changes.complete:
        rows = [row for row in rows if row["session_id"] in changes.sessions]
    body = {
        "position": upto,
        "event_id": event_id,
        "complete": changes.complete,
        "facts": list(changes.facts),
        "sessions": rows,
    }
    return encode(upto, body)
