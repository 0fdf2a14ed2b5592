"""The event store's SQL on PostgreSQL (postgres.py runs it): its reads of the log, in order behind
the transaction-id fence, and the gate fence's statements."""

from __future__ import annotations

from typing import Final

CHANNEL: Final = "registry_events"

APPEND: Final = """
SELECT replayed, positions, "position", stream_versions, answer
  FROM append_events($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8, $9, $10, $11::jsonb[], $12, $13)
"""
COLUMNS: Final = """position, event_id, stream_id, stream_version, type, schema_version,
       data::text AS data, metadata::text AS metadata, recorded_at"""
# The fence (migrations/0018_log_fence.sql): only events of appends that have finished, and never
# past one that could still commit with a smaller position. read_all takes the fence in one
# statement and reads with it in the next (a later snapshot, as 0018 requires), so the rows stream
# to the client as they are read. HEAD and HELD_BACK take theirs within one statement: a head or
# a "more to come" a moment early costs a wait, never a skip.
FENCE: Final = "SELECT log_fence()"
READ_ALL: Final = f"""
SELECT {COLUMNS}
  FROM events
 WHERE position >= $1 AND transaction_id < $3::xid8
 ORDER BY position
 LIMIT $2
"""
HELD_BACK: Final = """
SELECT EXISTS (SELECT 1 FROM events
                WHERE position >= $1 AND transaction_id >= (SELECT log_fence()))
"""
HEAD: Final = """
SELECT coalesce(max(position), 0) FROM events WHERE transaction_id < (SELECT log_fence())
"""
READ_STREAM: Final = f"""
SELECT {COLUMNS}
  FROM events
 WHERE stream_id = $1 AND stream_version >= $2
 ORDER BY stream_version
 LIMIT $3
"""
STREAM_TYPES: Final = """
SELECT position, stream_version, type
  FROM events
 WHERE stream_id = $1
 ORDER BY stream_version
"""
READ_PREFIX: Final = f"""
SELECT {COLUMNS}
  FROM events
 WHERE stream_id LIKE $1 || '%'
 ORDER BY position
"""
STREAM_IDS: Final = (
    "SELECT stream_id FROM streams WHERE stream_id LIKE $1 || '%' ORDER BY stream_id"
)
# A rebuild of the gate: the fence lock taken exclusively (appends hold it shared, see
# migrations/0009_append_events_gate_fence.sql), then the epoch moved on.
FENCE_LOCK: Final = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
#: The epoch the fence will move to: known before it is written, because the fence's lock keeps
#: every other fence out, and written last, so that an append inside the fence is still the
#: transaction's first write (append_events insists, see 0020).
FENCE_NEXT: Final = "SELECT coalesce((SELECT epoch FROM gate_epochs WHERE event_key = $1), 0) + 1"
FENCE_ADVANCE: Final = """
INSERT INTO gate_epochs AS g (event_key, epoch) VALUES ($1, 1)
ON CONFLICT (event_key) DO UPDATE SET epoch = g.epoch + 1, rebuilt_at = clock_timestamp()
RETURNING epoch
"""
#: 'gate' in ASCII: the advisory lock class of the fence (the same constant as the migration).
GATE_LOCK_CLASS: Final = 1734439013
