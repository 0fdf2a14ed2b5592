-- Archived history: one row per partition of `events` that `registry log archive` wrote to a
-- file and then detached and dropped (archive_event_partition, 0066). The log's positions
-- first_position..last_position live in that file only; readers of the log that reach them
-- say so and name the file (registry.eventstore.errors.ArchivedHistory), `registry verify`
-- checks the files and starts the database's chain from head_hash, and a rebuild reads them
-- (registry.archive).
--
-- first_position, last_position  the partition's range (inclusive), gaps included
-- events                         how many events the file holds (a range may hold none)
-- head_position, head_hash       the chain at the last event of the file: the next event in the
--                                log links to it (prev_position, event_hashes); when the range
--                                holds no event, the previous archive's (or 0 and the genesis)
-- prev_hash                      the chain's hash before the file's first event
-- file, directory                the file's name and the directory it was written to (absolute)
-- sha256, bytes                  of the file as written: a copy moved elsewhere is checked by them
--
-- Ranges follow each other from position 1 with no hole: a partition is archived only when every
-- position before it is archived (0066 checks).
CREATE TABLE log_archives (
    first_position bigint      NOT NULL,
    last_position  bigint      NOT NULL,
    events         bigint      NOT NULL,
    head_position  bigint      NOT NULL,
    prev_hash      bytea       NOT NULL,
    head_hash      bytea       NOT NULL,
    file           text        NOT NULL,
    directory      text        NOT NULL,
    sha256         bytea       NOT NULL,
    bytes          bigint      NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT log_archives_pkey PRIMARY KEY (first_position),
    CONSTRAINT log_archives_range CHECK (first_position >= 1 AND last_position >= first_position),
    CONSTRAINT log_archives_events CHECK (events >= 0 AND events <= last_position - first_position + 1),
    CONSTRAINT log_archives_head CHECK (head_position >= 0 AND head_position <= last_position),
    CONSTRAINT log_archives_hash_lengths
        CHECK (octet_length(prev_hash) = 32 AND octet_length(head_hash) = 32
               AND octet_length(sha256) = 32),
    CONSTRAINT log_archives_file_name CHECK (file ~ '^[A-Za-z0-9._-]+$')
);

-- Part of the log's record: the service and maintenance read it; only 0066 (as the owner)
-- writes it.
REVOKE INSERT, UPDATE, DELETE ON log_archives FROM registry_app;
