-- Read model `waitlists` (projections/waitlists.py): who waits for which session, by ticket.
CREATE TABLE rm_waits (
    generation     integer NOT NULL,
    organisation   text    NOT NULL,
    event_id       text    NOT NULL,
    session_id     text    NOT NULL,
    participant_id text    NOT NULL,
    ticket         integer NOT NULL,
    replaces       text,
    PRIMARY KEY (generation, organisation, event_id, session_id, participant_id)
);
CREATE INDEX rm_waits_by_participant
    ON rm_waits (generation, organisation, event_id, participant_id);
