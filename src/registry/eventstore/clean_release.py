"""Skipping the pool's reset round trip for connections known to be clean.

asyncpg's pool resets every connection it takes back (``Pool.release`` runs
``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): one more round trip and
four statements for PostgreSQL per acquire. On the sign-up path that is two of them per request
(the participant's stream and the batched append), about a tenth of the API's CPU in the profile
of issue 8 (bench/README.md). Most uses leave nothing to reset: one SELECT, or one call of
append_batch that returned (its session-level position lock is released inside it).

So a use that knows it left nothing behind *marks* its connection before giving it back, and the
pool's ``reset`` hook (asyncpg >= 0.30, `create_pool(reset=...)
<https://magicstack.github.io/asyncpg/current/api/index.html#asyncpg.pool.create_pool>`_) skips
the reset query for a marked connection, once. Anything unmarked, including every use that
raised (a statement cut off by a timeout between taking and releasing the position lock), gets
the full reset as before. asyncpg still rolls back an open transaction and drops the listeners
itself before calling the hook.

Connections are told apart by their backend's process id, unique among one server's live
connections (a process uses one PostgreSQL server). A mark lives from the end of one use to the
release that follows: the ``setup`` hook, run on every acquire, drops any mark a connection
closed without a reset left behind, so a later backend with the same id is never spared.
"""

from __future__ import annotations

import asyncpg

_marked: set[int] = set()


def mark_clean(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
    """Call last, just before the connection goes back: this use left no session state."""
    _marked.add(conn.get_server_pid())


async def setup(conn: asyncpg.pool.PoolConnectionProxy) -> None:
    """The pool's setup hook (every acquire): no mark survives into a new use."""
    _marked.discard(conn.get_server_pid())


async def reset(conn: asyncpg.Connection) -> None:
    """The pool's reset hook: nothing for a connection marked clean, else asyncpg's reset."""
    pid = conn.get_server_pid()
    if pid in _marked:
        _marked.discard(pid)
        return
    query = conn.get_reset_query()
    if query:
        await conn.execute(query)
