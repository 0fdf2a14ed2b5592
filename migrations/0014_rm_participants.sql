-- Read model `catalog` (projections/catalog.py): who is registered, by name (the lists show
-- names; e-mails stay in the log).
CREATE TABLE rm_participants (
    generation     integer NOT NULL,
    organisation   text    NOT NULL,
    event_id       text    NOT NULL,
    participant_id text    NOT NULL,
    name           text    NOT NULL,
    cancelled      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (generation, organisation, event_id, participant_id)
);
