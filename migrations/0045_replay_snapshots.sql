-- Snapshots of the replay (src/registry/audit/replay.py): one event's folded state at a log
-- position, taken every K facts of that event (REGISTRY_REPLAY_SNAPSHOT_EVERY), so that
-- `?as_of=` starts its fold from the nearest snapshot at or before the position asked for
-- instead of from the first fact.
--
-- A snapshot is derived data, like the read models: the log is append-only, so a snapshot of a
-- position never goes stale; `format` changes when the fold's rules or the encoding do, and
-- rows of another format are ignored. `registry verify` does not start from them: it folds
-- everything from position 1 and checks each snapshot against its own fold.
--
-- position  the last fact folded into it (of this event); facts: how many of its facts
-- state     msgspec JSON, zlib-compressed (registry.audit.replay_snapshot)
CREATE TABLE replay_snapshots (
    organisation text        NOT NULL,
    event_id     text        NOT NULL,
    format       integer     NOT NULL,
    position     bigint      NOT NULL,
    facts        bigint      NOT NULL,
    state        bytea       NOT NULL,
    taken_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (organisation, event_id, format, position)
);
