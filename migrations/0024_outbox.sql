-- The transactional outbox: one row per fact that notifies (which facts: 0026), written by the
-- trigger of 0027 in the same transaction as the fact's row in `events`, so a notification
-- exists exactly when its fact was committed. The dispatcher (src/registry/notifications/)
-- fans each row out into one delivery per active webhook of the organisation and then sets
-- `fanned_out_at`. A flag per row, not a cursor by id: ids are drawn before commit, so a
-- transaction holding a smaller id can commit after a larger one was read; a cursor would skip it.
CREATE TABLE outbox (
    id            bigserial   NOT NULL PRIMARY KEY,
    "position"    bigint      NOT NULL,
    organisation  text        NOT NULL,
    event_key     text        NOT NULL,  -- <organisation>:<event>
    type          text        NOT NULL,
    data          jsonb       NOT NULL,
    recorded_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    fanned_out_at timestamptz,
    CONSTRAINT outbox_position_key UNIQUE ("position")
);

-- What is left to fan out: small (rows leave it within a poll interval), read by every poll and
-- by the deliveries read's position (src/registry/notifications/outbox.py).
CREATE INDEX outbox_not_fanned_out ON outbox ("position") WHERE fanned_out_at IS NULL;
