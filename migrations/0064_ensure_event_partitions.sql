-- ensure_event_partitions(ahead, size): the partitions of `events` (0065) for the positions to
-- come; `registry log partitions --ahead N [--size S]` calls it (run it daily from cron, or
-- after a migration). Returns the names of the partitions it made.
--
-- 1. Rows in the DEFAULT partition (appends that ran past the last range partition: the default
--    is there so that an append never fails for want of a partition) become a range partition
--    of their own: the default is detached, renamed, given its range (whole partitions of the
--    current size from where the ranges end, up past its last row) and attached again, and a new
--    empty default takes its place. No row moves, so no trigger fires twice (the outbox's). The
--    CHECK added before the ATTACH is what PostgreSQL's docs advise: the ATTACH then skips its
--    own scan; the CHECK's scan runs while appends wait (a few hundred ms per million rows;
--    keeping partitions ahead keeps the default empty and this step away).
-- 2. Range partitions [end, end + size) until they reach `ahead` partitions past the last
--    position drawn (events_position_seq). ahead = 0: only step 1.
--
-- Appends wait only while partitions are made (the DDL's locks, held to commit); reads go on.
-- A transaction-level advisory lock keeps two callers (and an archive, 0066) apart. SECURITY
-- DEFINER: the partitions belong to the owner of `events` whoever calls (a superuser's
-- partitions would be theirs, and the owner could not detach them later).
CREATE FUNCTION ensure_event_partitions(p_ahead integer, p_size bigint DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
DECLARE
    -- 'logparts' in ASCII: the advisory lock of partition maintenance (0066 takes it too).
    c_lock constant bigint := 7813577610879988851;
    v_size    bigint;
    v_end     bigint;
    v_drawn   bigint;
    v_default bigint;
    v_hi      bigint;
    v_name    text;
    -- Where `events` lives: new tables are made there by name (pg_catalog comes first in this
    -- function's search_path, and nothing may be created in it).
    v_schema  text := (SELECT c.relnamespace::regnamespace::text FROM pg_catalog.pg_class c
                        WHERE c.oid = 'events'::regclass);
BEGIN
    IF p_ahead IS NULL OR p_ahead < 0 THEN
        RAISE EXCEPTION 'ahead must be 0 or more (got %)', p_ahead;
    END IF;
    IF p_size IS NOT NULL AND p_size < 1 THEN
        RAISE EXCEPTION 'a partition holds 1 position or more (got %)', p_size;
    END IF;
    PERFORM pg_advisory_xact_lock(c_lock);
    IF p_size IS NOT NULL THEN
        UPDATE log_partitioning SET partition_size = p_size;
    END IF;
    SELECT l.partition_size INTO v_size FROM log_partitioning l;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END
      INTO v_drawn FROM events_position_seq s;

    SELECT max(p.end_position) INTO v_end FROM event_partitions() p;
    IF v_end IS NULL THEN  -- no range partition: they start after the archived ranges
        SELECT coalesce(max(a.last_position), 0) + 1 INTO v_end FROM log_archives a;
    END IF;
    IF v_end > v_drawn + p_ahead * v_size AND NOT EXISTS (SELECT FROM events_default) THEN
        RETURN;  -- nothing to do: appends were not held up
    END IF;
    -- Appends wait from here (EXCLUSIVE: reads go on), so that the default's rows counted now
    -- are all it holds when it is detached.
    LOCK TABLE events IN EXCLUSIVE MODE;

    -- 1. The default's rows become a range partition.
    SELECT max(d."position") INTO v_default FROM events_default d;
    IF v_default IS NOT NULL THEN
        v_hi := v_end + v_size * ceil((v_default + 1 - v_end)::numeric / v_size)::bigint;
        v_name := format('events_%s_%s', v_end, v_hi - 1);
        ALTER TABLE events DETACH PARTITION events_default;
        EXECUTE format('ALTER TABLE events_default RENAME TO %I', v_name);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK ("position" >= %s AND '
                       '"position" < %s)', v_name, v_name || '_range', v_end, v_hi);
        EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                       v_name, v_end, v_hi);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', v_name, v_name || '_range');
        EXECUTE format('CREATE TABLE %s.events_default PARTITION OF events DEFAULT', v_schema);
        PERFORM guard_event_partition('events_default');
        v_end := v_hi;
        RETURN NEXT v_name;
    END IF;

    -- 2. Partitions ahead of the last position drawn.
    WHILE v_end <= v_drawn + p_ahead * v_size LOOP
        v_name := format('events_%s_%s', v_end, v_end + v_size - 1);
        EXECUTE format('CREATE TABLE %s.%I PARTITION OF events FOR VALUES FROM (%s) TO (%s)',
                       v_schema, v_name, v_end, v_end + v_size);
        PERFORM guard_event_partition(format('%s.%I', v_schema, v_name)::regclass);
        v_end := v_end + v_size;
        RETURN NEXT v_name;
    END LOOP;
END;
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION ensure_event_partitions(integer, bigint) '
                   'SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
                   current_schema());
END;
$$;

REVOKE EXECUTE ON FUNCTION ensure_event_partitions(integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_event_partitions(integer, bigint) TO registry_maintenance;
