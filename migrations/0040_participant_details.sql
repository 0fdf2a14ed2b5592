-- Personal data, outside the log (DESIGN.md section 4; src/registry/eventstore/personal.py): a
-- participant's name, e-mail and the organisation they gave. Written by the event store in the
-- transaction of the append that registers them (ParticipantRegistered, schema 2, holds none of
-- it), so that no registered participant lacks a row and no row lacks a registration. Reads take
-- names from here when they answer (projections/read_queries.py), so an erasure shows at once.
--
-- Erasure (POST .../participants/{participant}/erase) nulls the three and sets erased_at, in the
-- transaction that appends PersonalDataErased: the row stays as a tombstone holding no personal
-- data, so that reads can say "erased" rather than "unknown". The old row version stays in the
-- table's files until VACUUM reclaims it, and in WAL and backups until they expire
-- (docs/decisions.md).
--
-- organisation is the tenant (the organisations slug); organisation_name is the participant's.
CREATE TABLE participant_details (
    organisation      text        NOT NULL,
    event_id          text        NOT NULL,
    participant_id    text        NOT NULL,
    name              text,
    email             text,
    organisation_name text,
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    erased_at         timestamptz,
    PRIMARY KEY (organisation, event_id, participant_id),
    -- Either the details or a tombstone, never a mixture. Both checks hold on what the handlers
    -- write (a command's name and e-mail are required), so PostgreSQL never reports a failing
    -- row here, whose values its message would carry into the logs.
    CONSTRAINT participant_details_kept CHECK (erased_at IS NOT NULL
                                               OR (name IS NOT NULL AND email IS NOT NULL)),
    CONSTRAINT participant_details_erased CHECK (erased_at IS NULL
                                                 OR (name IS NULL AND email IS NULL
                                                     AND organisation_name IS NULL))
);
