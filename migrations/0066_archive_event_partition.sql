-- archive_event_partition(...): the last step of `registry log archive` (registry.archive):
-- once the partition's events are in a file that was read back and checked against the chain,
-- record the file in log_archives (0063), then DETACH and DROP the partition and remove its
-- hashes from event_hashes (the file holds them; the chain in the database starts from the
-- file's head_hash from then on). Seals stay: they are the auditors' anchors.
--
-- The database checks what it can itself, so that no caller can drop history that is not
-- safely archived:
-- - the partition is the lowest range partition and starts right after the archived ranges
--   (archives follow each other from position 1);
-- - the file's claims match the partition: its number of events, its last event, the hash of
--   the chain there as event_hashes holds it, and the hash before its first event (the previous
--   archive's head_hash, or the genesis, 32 zero bytes);
-- - the chain has reached the partition's last position, so every position of it is final
--   (the chainer hashes only the fenced prefix of the log, chainer.py), and a seal covers its
--   last event.
--
-- Callable by registry_maintenance only (`SET LOCAL ROLE registry_maintenance` first, as every
-- rewrite of the log, 0030); it runs as the owner of `events` (SECURITY DEFINER), the only role
-- that may detach and drop a partition. Takes the lock of partition maintenance (0064).
CREATE FUNCTION archive_event_partition(
    p_partition     text,
    p_events        bigint,
    p_head_position bigint,
    p_prev_hash     bytea,
    p_head_hash     bytea,
    p_file          text,
    p_directory     text,
    p_sha256        bytea,
    p_bytes         bigint
)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    c_lock constant bigint := 7813577610879988851;  -- as in ensure_event_partitions
    c_genesis constant bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    v_first    bigint;
    v_end      bigint;
    v_archived bigint;
    v_before   bytea;
    v_count    bigint;
    v_last     bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(c_lock);
    SELECT p.first_position, p.end_position INTO v_first, v_end
      FROM event_partitions() p WHERE p.name = p_partition;
    IF v_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RG060',
            MESSAGE = format('%s is not a range partition of events', p_partition);
    END IF;
    SELECT coalesce(max(a.last_position), 0),
           coalesce((SELECT b.head_hash FROM log_archives b
                      ORDER BY b.first_position DESC LIMIT 1), c_genesis)
      INTO v_archived, v_before FROM log_archives a;
    IF EXISTS (SELECT FROM event_partitions() p WHERE p.first_position < v_first)
       OR (v_archived > 0 AND v_first <> v_archived + 1) THEN
        RAISE EXCEPTION USING ERRCODE = 'RG060',
            MESSAGE = format('%s is not the oldest partition of the log (archived up to %s): '
                             'partitions are archived in order', p_partition, v_archived);
    END IF;
    IF NOT EXISTS (SELECT FROM event_hashes h WHERE h."position" >= v_end - 1) THEN
        RAISE EXCEPTION USING ERRCODE = 'RG060',
            MESSAGE = format('the hash chain has not reached position %s yet', v_end - 1);
    END IF;
    EXECUTE format('SELECT count(*), coalesce(max("position"), 0) FROM %I', p_partition)
       INTO v_count, v_last;
    IF v_count <> p_events OR (v_count > 0 AND v_last <> p_head_position)
       OR p_prev_hash <> v_before THEN
        RAISE EXCEPTION USING ERRCODE = 'RG060',
            MESSAGE = format('the archive of %s does not match it: %s events to %s in the '
                             'partition, %s to %s in the file', p_partition, v_count, v_last,
                             p_events, p_head_position);
    END IF;
    IF v_count > 0 THEN
        IF NOT EXISTS (SELECT FROM event_hashes h
                        WHERE h."position" = p_head_position AND h.hash = p_head_hash) THEN
            RAISE EXCEPTION USING ERRCODE = 'RG060',
                MESSAGE = format('the archive of %s does not end on the chain''s hash at %s',
                                 p_partition, p_head_position);
        END IF;
        IF NOT EXISTS (SELECT FROM log_seals s WHERE s."position" >= p_head_position) THEN
            RAISE EXCEPTION USING ERRCODE = 'RG060',
                MESSAGE = format('no seal covers position %s yet', p_head_position);
        END IF;
    ELSIF p_head_hash <> p_prev_hash THEN
        RAISE EXCEPTION USING ERRCODE = 'RG060',
            MESSAGE = format('the archive of %s holds no event but moves the chain', p_partition);
    END IF;
    INSERT INTO log_archives (first_position, last_position, events, head_position, prev_hash,
                              head_hash, file, directory, sha256, bytes)
    VALUES (v_first, v_end - 1, v_count, p_head_position, p_prev_hash, p_head_hash, p_file,
            p_directory, p_sha256, p_bytes);
    EXECUTE format('ALTER TABLE events DETACH PARTITION %I', p_partition);
    EXECUTE format('DROP TABLE %I', p_partition);
    DELETE FROM event_hashes h WHERE h."position" < v_end;
END;
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION archive_event_partition(text, bigint, bigint, bytea, bytea, '
                   'text, text, bytea, bigint) '
                   'SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
                   current_schema());
END;
$$;

REVOKE EXECUTE ON FUNCTION archive_event_partition(text, bigint, bigint, bytea, bytea, text, text,
                                                   bytea, bigint)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_event_partition(text, bigint, bigint, bytea, bytea, text, text,
                                                  bytea, bigint)
    TO registry_maintenance;
