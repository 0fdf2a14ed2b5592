-- How the log is cut into partitions (0065): every partition of `events` covers this many
-- positions, [first, first + partition_size). One row. Changed by
-- `registry log partitions --size N` (through ensure_event_partitions, 0063); a new size applies
-- to the partitions created from then on, never to existing ones.
--
-- 1,000,000 positions: at the measured peak of 1,000 events/s (docs/scaling.md) that is 17
-- minutes of a flash crowd and, at the export's ~600 bytes an event, a 600 MB file (about a
-- tenth of that gzipped); a quiet deployment fills one in weeks or months. Small enough that
-- archiving one is a short job and a detached partition's files go at once; large enough that
-- the planner's per-partition cost stays small (a few hundred partitions after years at peak).
CREATE TABLE log_partitioning (
    only_row       boolean NOT NULL DEFAULT true,
    partition_size bigint  NOT NULL,
    CONSTRAINT log_partitioning_pkey PRIMARY KEY (only_row),
    CONSTRAINT log_partitioning_one_row CHECK (only_row),
    CONSTRAINT log_partitioning_size_positive CHECK (partition_size >= 1)
);

INSERT INTO log_partitioning (partition_size) VALUES (1000000);

-- Read by everyone, written only through ensure_event_partitions() (its owner's).
REVOKE INSERT, UPDATE, DELETE ON log_partitioning FROM registry_app;
