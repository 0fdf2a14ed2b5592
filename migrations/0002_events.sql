-- The log: every fact, in global order. Append-only (written only by append_events()).
--
-- position        global order, from events_position_seq, drawn by append_events() in the order
--                 of the writing transactions' ids (see 0004_append_events.sql for why)
-- transaction_id  the writing transaction (pg_current_xact_id()), used by readers as the fence
CREATE TABLE events (
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
    CONSTRAINT events_pkey PRIMARY KEY (stream_id, stream_version),
    CONSTRAINT events_position_key UNIQUE (position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_position_positive CHECK (position >= 1),
    CONSTRAINT events_stream_version_positive CHECK (stream_version >= 1),
    CONSTRAINT events_schema_version_positive CHECK (schema_version >= 1),
    CONSTRAINT events_stream_id_format
        CHECK (stream_id ~ '^[a-z][a-z0-9_]{0,31}-[A-Za-z0-9][A-Za-z0-9:._-]{0,199}$'),
    CONSTRAINT events_type_format CHECK (type ~ '^[A-Za-z][A-Za-z0-9_.]{0,99}$')
);

-- CACHE 1 (the default) matters: values are handed out in the order they are asked for.
CREATE SEQUENCE events_position_seq AS bigint START WITH 1 CACHE 1 OWNED BY events.position;
