"""Where each projection stands: its live generation and that generation's checkpoint
(migrations/0010, 0011). One place for the SQL the runner, the rebuild, the reads and
`registry projections status` share."""

from __future__ import annotations

from datetime import datetime
from typing import Final, NamedTuple

from registry.dbtypes import Connection

#: Advisory lock class of projection leadership (key: hashtext(name)); 'proj' in ASCII.
LEADER_LOCK_CLASS: Final = 0x70726F6A
#: Advisory lock class of leading a whole set of projections (key: hashtext of their names);
#: 'prjs' in ASCII. Only its holder tries the projections' own locks (projections/runner.py).
LEADER_SET_LOCK_CLASS: Final = 0x70726A73
#: Advisory lock class of a rebuild in progress; 'rbld' in ASCII.
REBUILD_LOCK_CLASS: Final = 0x72626C64

ENSURE_STATE: Final = """
INSERT INTO projection_state (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
"""
ENSURE_CHECKPOINT: Final = """
INSERT INTO projection_checkpoints (name, generation)
SELECT name, live_generation FROM projection_state WHERE name = $1
ON CONFLICT (name, generation) DO NOTHING
"""
LIVE: Final = """
SELECT s.live_generation AS generation, c.position, c.event_time, c.updated_at
  FROM projection_state s
  JOIN projection_checkpoints c ON c.name = s.name AND c.generation = s.live_generation
 WHERE s.name = $1
"""
# Several projections at once (one round for all a runner leads, runner.py). Locked inside a
# batch's transaction: the live generation may not change under it (a rebuild's swap waits), and
# the checkpoints are ours until commit (two runners never apply one batch twice); in name order,
# so that two such rounds never wait on each other in a cycle.
LIVE_MANY: Final = """
SELECT s.name, s.live_generation AS generation, c.position
  FROM projection_state s
  JOIN projection_checkpoints c ON c.name = s.name AND c.generation = s.live_generation
 WHERE s.name = ANY($1::text[])
 ORDER BY s.name
"""
LOCK_LIVE_MANY: Final = LIVE_MANY + " FOR UPDATE OF c FOR SHARE OF s"
ADVANCE: Final = """
UPDATE projection_checkpoints
   SET position = $3, event_time = $4, updated_at = clock_timestamp()
 WHERE name = $1 AND generation = $2
"""
TRY_LEAD: Final = "SELECT pg_try_advisory_lock($1, hashtext($2))"
LEADERS: Final = """
SELECT a.pid, a.application_name, a.client_addr::text AS client_addr
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1
   AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)
   -- advisory locks are per database, pg_locks is the whole server's
   AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
"""


class Standing(NamedTuple):
    generation: int
    position: int
    event_time: datetime | None
    updated_at: datetime


async def ensure(conn: Connection, name: str) -> None:
    """The projection's rows exist (generation 1 at position 0 the first time)."""
    async with conn.transaction():
        await conn.execute(ENSURE_STATE, name)
        await conn.execute(ENSURE_CHECKPOINT, name)


async def live(conn: Connection, name: str) -> Standing:
    row = await conn.fetchrow(LIVE, name)
    if row is None:
        raise LookupError(f"projection {name} has no state; run the projector once")
    return Standing(row["generation"], row["position"], row["event_time"], row["updated_at"])


async def positions(conn: Connection, names: list[str]) -> dict[str, int]:
    """The live checkpoint of each projection named (missing ones: 0)."""
    rows = await conn.fetch(LIVE_MANY, names)
    found = {row["name"]: row["position"] for row in rows}
    return {name: found.get(name, 0) for name in names}
