"""Lookups of recorded commands, gathered: one query for the lookups of one turn of the loop.

A command sent with an Idempotency-Key is looked up before anything is decided (a retry is
answered from the log, never decided again): one query per command, a round trip that cost
keyed sign-ups 14 % against the same crowd without keys (bench/README.md, 2026-12-06 evening).
The lookups that dozens of commands in flight make in the same turn of the event loop now go as
one `= ANY($1)` query. A lookup read at the loop's next turn is one read a moment later, which
any caller racing a twin of its command has to expect anyway.
"""

from __future__ import annotations

import asyncio
from typing import Final

import asyncpg

from registry.eventstore import clean_release
from registry.eventstore.pg_outcomes import StoredCommand, stored_from_row

COMMANDS: Final = """
SELECT command_id, fingerprint, positions, "position", stream_versions, answer::text AS answer
  FROM commands WHERE command_id = ANY($1::text[])
"""


class CommandLookups:
    """`stored(command_id)`, as `pg_outcomes.stored_command`, the lookups of one turn in one
    query on a pooled connection."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: dict[str, list[asyncio.Future[StoredCommand | None]]] = {}
        self._sending: set[asyncio.Task[None]] = set()  # strong references (asyncio docs)

    async def stored(self, command_id: str) -> StoredCommand | None:
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
        reply: asyncio.Future[StoredCommand | None] = loop.create_future()
        self._pending.setdefault(command_id, []).append(reply)
        return await reply

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        task = asyncio.ensure_future(self._look_up(pending))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _look_up(
        self, pending: dict[str, list[asyncio.Future[StoredCommand | None]]]
    ) -> None:
        wanted = [c for c, replies in pending.items() if not all(r.done() for r in replies)]
        try:
            found: dict[str, StoredCommand] = {}
            if wanted:
                async with self._pool.acquire() as conn:
                    rows = await conn.fetch(COMMANDS, wanted)
                    clean_release.mark_clean(conn)  # one SELECT: nothing to reset
                found = {row["command_id"]: stored_from_row(row) for row in rows}
        except asyncio.CancelledError:
            for replies in pending.values():
                for reply in replies:
                    reply.cancel()
            raise
        except Exception as error:
            for replies in pending.values():
                for reply in replies:
                    if not reply.done():
                        reply.set_exception(error)
            return
        for command_id, replies in pending.items():
            for reply in replies:
                if not reply.done():
                    reply.set_result(found.get(command_id))
