-- The log, partitioned by position range (issue 10, item 3): `events` becomes
-- `PARTITION BY RANGE (position)`, so that old history can leave the database a partition at a
-- time (`registry log archive`, 0066) and the table never has to be rewritten or vacuumed whole.
-- Runs on existing deployments: the rows move into the new table in this migration's
-- transaction (appends and reads of the old one wait for it), keeping every column as it was.
--
-- What changes, and why it is safe:
-- - Keys. A unique index on a partitioned table must hold the partition key, so the primary key
--   is now (position) (it was UNIQUE before) and (stream_id, stream_version), the old primary
--   key, is a plain index. Stream versions stay unique without it: append_events (0020) and
--   append_batch (0046) number a stream's events from the `streams` row (0001), which they
--   insert or update, or lock FOR SHARE, before inserting, and hold locked to commit; two
--   appends to one stream therefore run one after the other, each from the other's version, and
--   an expected version is checked against that row, never against events. The unique index
--   only ever backed that up (no code catches its violation; `registry import` checks that each
--   stream's versions follow each other). UNIQUE (event_id) goes with no replacement: event ids
--   are random UUIDs the store draws (eventstore/prepare.py), and nothing looks events up by
--   them; one index less on every append.
-- - position's sequence (events_position_seq, 0002) is kept, with its value; it belonged to the
--   old column (OWNED BY), which would have dropped it with the old table.
-- - The triggers: the append-only statement trigger (0034) on the partitioned table, and on
--   every partition (guard_event_partition, 0062: a statement trigger of the parent does not
--   fire for statements that name a partition); the outbox's row trigger (0027), which
--   PostgreSQL clones onto every partition, now and later.
-- - Privileges as 0032 gave them: the service reads, registry_maintenance may rewrite.
-- - Functions: append_events, append_batch and the rest name `events` in PL/pgSQL bodies,
--   which are planned when they run, so they find the new table unchanged (their fixed
--   search_path included). Nothing else depends on the table: no view, no foreign key
--   (event_hashes has none on purpose, 0035); the DROP below would fail if something did.
--
-- Partitions: only the DEFAULT one here; ensure_event_partitions(0) (0064) then turns the rows
-- copied into it into one range partition. Partitions ahead come from
-- `registry log partitions --ahead N`; until then, appends land in the default, which the next
-- call turns into a range partition in turn (docs/scaling.md, "The log").
LOCK TABLE events IN ACCESS EXCLUSIVE MODE;

CREATE TABLE events_partitioned (
    position        bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    transaction_id  xid8        NOT NULL,
    CONSTRAINT events_position_positive CHECK (position >= 1),
    CONSTRAINT events_stream_version_positive CHECK (stream_version >= 1),
    CONSTRAINT events_schema_version_positive CHECK (schema_version >= 1),
    -- As 0021 left them.
    CONSTRAINT events_stream_id_format CHECK (
        stream_id ~ '^[a-z][a-z0-9_]*-[A-Za-z0-9][A-Za-z0-9:._-]*$'
        AND strpos(stream_id, '-') BETWEEN 2 AND 33
        AND length(stream_id) - strpos(stream_id, '-') BETWEEN 1 AND 200
    ),
    CONSTRAINT events_type_format CHECK (
        type ~ '^[A-Za-z][A-Za-z0-9_.]*$' AND length(type) <= 100
    )
) PARTITION BY RANGE (position);

CREATE TABLE events_default PARTITION OF events_partitioned DEFAULT;

-- No trigger on the new table yet: the outbox must not see old facts again.
INSERT INTO events_partitioned (position, event_id, stream_id, stream_version, type,
                                schema_version, data, metadata, recorded_at, transaction_id)
SELECT position, event_id, stream_id, stream_version, type, schema_version, data, metadata,
       recorded_at, transaction_id
  FROM events
 ORDER BY position;

ALTER SEQUENCE events_position_seq OWNED BY NONE;
DROP TABLE events;
ALTER TABLE events_partitioned RENAME TO events;
ALTER SEQUENCE events_position_seq OWNED BY events.position;

SELECT guard_event_partition('events_default');
SELECT ensure_event_partitions(0);

-- The indexes of 0002, 0008 and 0037 (created on every partition, now and later).
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (position);
CREATE INDEX events_stream_version ON events (stream_id, stream_version);
CREATE INDEX events_stream_id_prefix ON events (stream_id text_pattern_ops, stream_version);
CREATE INDEX events_organisation_position ON events (stream_organisation(stream_id), position);

-- 0034: the log refuses UPDATE, DELETE and TRUNCATE to all but registry_maintenance.
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT
    EXECUTE FUNCTION events_append_only();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only;

-- 0027: the facts that notify, copied into the outbox in the appending transaction.
CREATE TRIGGER events_to_outbox
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (
        NEW.type IN ('PromotedFromWaitlist', 'SessionRescheduled', 'SessionCapacityChanged',
                     'SessionCancelled', 'SessionsMerged', 'SeatsOverlapped', 'EventCancelled',
                     'EventWentOnline')
        OR (NEW.type IN ('SeatReleased', 'WaitlistLeft')
            AND NEW.data ->> 'reason' IN ('session-cancelled', 'event-cancelled', 'merged'))
    )
    EXECUTE FUNCTION outbox_from_events();

-- 0032: read only for the service (the default privileges gave it more on the new table).
REVOKE ALL ON events FROM PUBLIC, registry_app;
GRANT SELECT ON events TO registry_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON events TO registry_maintenance;

ANALYZE events;
