-- Read model `seats` (projections/seats.py): who holds a seat in which session, since when and
-- in which order (attendee lists, agendas, conflicts).
CREATE TABLE rm_seats (
    generation     integer     NOT NULL,
    organisation   text        NOT NULL,
    event_id       text        NOT NULL,
    session_id     text        NOT NULL,
    participant_id text        NOT NULL,
    ticket         integer     NOT NULL,
    seated_at      timestamptz NOT NULL,  -- recorded_at of the fact that gave the seat
    seated_position bigint     NOT NULL,  -- its log position: the order seats were given
    PRIMARY KEY (generation, organisation, event_id, session_id, participant_id)
);
CREATE INDEX rm_seats_by_participant
    ON rm_seats (generation, organisation, event_id, participant_id);
