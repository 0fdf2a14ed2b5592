-- How far each generation of each projection has applied the log: the position of the last
-- event applied, written in the same transaction as the read-model rows (exactly-once effect).
CREATE TABLE projection_checkpoints (
    name        text        NOT NULL,
    generation  integer     NOT NULL CHECK (generation >= 1),
    position    bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    -- recorded_at of the event at `position` (lag in seconds), and when the row last moved.
    event_time  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (name, generation)
);
