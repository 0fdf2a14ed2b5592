-- Read model `occupancy` (projections/occupancy.py): seats taken and entries waiting per session,
-- kept as counters so the organisers' most frequent read costs one row per session.
CREATE TABLE rm_occupancy (
    generation   integer NOT NULL,
    organisation text    NOT NULL,
    event_id     text    NOT NULL,
    session_id   text    NOT NULL,
    seated       integer NOT NULL DEFAULT 0,
    waitlisted   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (generation, organisation, event_id, session_id)
);
