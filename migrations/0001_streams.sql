-- Each stream's current version: the row an append locks for optimistic concurrency.
-- Participant streams keep this row cold: no two people share one.
CREATE TABLE streams (
    stream_id text   NOT NULL PRIMARY KEY,
    version   bigint NOT NULL CHECK (version >= 0)
);
