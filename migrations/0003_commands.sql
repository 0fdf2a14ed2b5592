-- Idempotency: one row per command id, written in the same transaction as the command's events,
-- holding what the first run answered. A repeat returns this row and writes nothing.
CREATE TABLE commands (
    command_id      text        NOT NULL PRIMARY KEY,
    fingerprint     text,
    positions       bigint[]    NOT NULL,
    position        bigint      NOT NULL,
    stream_versions bigint[]    NOT NULL,
    answer          jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX commands_recorded_at ON commands (recorded_at);
