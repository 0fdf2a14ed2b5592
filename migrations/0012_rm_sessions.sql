-- Read model `catalog` (projections/catalog.py): every session of every event, as the
-- programme's events describe it.
CREATE TABLE rm_sessions (
    generation   integer     NOT NULL,
    organisation text        NOT NULL,
    event_id     text        NOT NULL,
    session_id   text        NOT NULL,
    title        text        NOT NULL,
    room_id      text,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    capacity     integer,
    mode         text        NOT NULL,
    waitlist     boolean     NOT NULL,
    state        text        NOT NULL DEFAULT 'open',
    merged_into  text,
    PRIMARY KEY (generation, organisation, event_id, session_id)
);
