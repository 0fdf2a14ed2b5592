-- append_batch_plain: a batch of plain commands appended with one statement per table, or
-- nothing at all (no rows back), in which case the caller runs append_batch (0069) on it.
--
-- Same arguments and same result rows as append_batch; every row comes back 'appended'.
-- A batch is plain when nothing in it needs a command to be decided alone:
--   - every command has events, and every stream it names has at least one of them;
--   - no stream is named twice in the batch, no command id twice;
--   - no command id was seen before (no replay, no RG003);
--   - every gate fence is free and every gate epoch is current (no 'fenced', no RG004);
--   - every expected version holds, no command id is taken meanwhile by a twin, no participant
--     has details kept already, and the log's CHECKs accept every event.
-- The first three are cheap for the caller to see (batcher.py, is_plain). Here the first is
-- looked at again, and the fences and epochs, before anything is drawn: not plain returns at
-- once, having written nothing. The second and third are refused by the writes themselves (one
-- row cannot be upserted twice by one statement; commands_pkey), as are the last ones. Every
-- write is inside one plpgsql block with an EXCEPTION clause (one subtransaction for the
-- batch): an error there rolls back all of the batch's writes and returns no rows; the
-- positions drawn stay a gap, as with any append that fails (0004, 0046), and append_batch
-- then gives each command its own outcome.
--
-- Why: append_batch decides each command in a subtransaction of its own, with a statement per
-- stream and per command id: 90 - 133 us of PostgreSQL's CPU per command in a batch of nine
-- sign-ups, against 65 - 81 us here (45 - 63 us for the same rows with one statement per table
-- and no checks at all; bench/README.md, "2026-12-07, evening"). In the broad crowd nearly every batch is plain: sign-ups name one
-- participant's stream with expected version ANY; a participant is not decided twice at once
-- (the gate's busy mark), so a stream rarely comes twice in one batch.
--
-- The global order premise of 0004 holds as in append_batch: no transaction id before the
-- critical section (the checks only read and take shared advisory locks), then the id and every
-- position drawn under the position lock, the transaction marked in flight for log_fence()
-- (0018); the session-level position lock is released before any write that could fail.
-- Streams are upserted in stream id order, so that two plain batches never wait for each other's
-- stream rows in opposite orders.
CREATE FUNCTION append_batch_plain(
    p_command_ids     text[],
    p_fingerprints    text[],
    p_answers         jsonb[],
    p_metadata        jsonb[],
    p_gate_keys       text[],
    p_gate_epochs     bigint[],
    p_stream_counts   integer[],
    p_event_counts    integer[],
    p_stream_ids      text[],
    p_expected        bigint[],
    p_event_streams   integer[],
    p_event_ids       uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_details         jsonb[]
)
RETURNS TABLE (
    outcome          text,
    replayed         boolean,
    positions        bigint[],
    "position"       bigint,
    stream_versions  bigint[],
    answer           jsonb,
    detail           text,
    message          text
)
LANGUAGE plpgsql
AS $$
DECLARE
    c_position_lock   constant bigint := 8243116260271552889;  -- as in append_events
    c_gate_lock_class constant integer := 1734439013;          -- as in append_events
    c_max_batch       constant integer := 60;                  -- as in append_batch
    v_commands      integer := coalesce(array_length(p_command_ids, 1), 0);
    v_events        integer := coalesce(array_length(p_event_ids, 1), 0);
    v_streams       integer := coalesce(array_length(p_stream_ids, 1), 0);
    v_stream_start  integer[];  -- each command's first stream and first event (1-based)
    v_event_start   integer[];
    v_event_stream  integer[];  -- each event's stream, as an index into p_stream_ids
    v_event_command integer[];  -- each event's command
    v_stream_events bigint[];   -- each stream's number of events
    v_versions      bigint[];   -- each stream's version after the batch
    v_next          bigint[];
    v_event_versions bigint[];
    v_drawn         bigint[];
    v_recorded      timestamptz := clock_timestamp();
    c integer;
    s integer;
    e integer;
BEGIN
    IF v_commands > c_max_batch THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('append_batch_plain takes at most %s commands, not %s',
                             c_max_batch, v_commands);
    END IF;
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RG002',
            MESSAGE = 'append_batch_plain must be the first write of its transaction';
    END IF;
    IF v_commands = 0 OR v_events = 0 THEN
        RETURN;
    END IF;

    -- 1. The batch's shape: every command with events, every stream with an event of its own.
    v_stream_start := array_fill(1, ARRAY[v_commands + 1]);
    v_event_start := array_fill(1, ARRAY[v_commands + 1]);
    v_stream_events := array_fill(0::bigint, ARRAY[v_streams]);
    v_event_stream := array_fill(0, ARRAY[v_events]);
    v_event_command := v_event_stream;
    FOR c IN 1 .. v_commands LOOP
        IF p_event_counts[c] < 1 THEN
            RETURN;
        END IF;
        v_stream_start[c + 1] := v_stream_start[c] + p_stream_counts[c];
        v_event_start[c + 1] := v_event_start[c] + p_event_counts[c];
        FOR e IN v_event_start[c] .. v_event_start[c + 1] - 1 LOOP
            IF p_event_streams[e] IS NULL OR p_event_streams[e] NOT BETWEEN 1 AND p_stream_counts[c]
            THEN
                RETURN;  -- not a batch append_batch would take either: it says so
            END IF;
            s := v_stream_start[c] + p_event_streams[e] - 1;
            v_event_stream[e] := s;
            v_event_command[e] := c;
            v_stream_events[s] := v_stream_events[s] + 1;
        END LOOP;
    END LOOP;
    IF v_stream_start[v_commands + 1] - 1 <> v_streams
       OR v_event_start[v_commands + 1] - 1 <> v_events
       OR 0 = ANY (v_stream_events) THEN
        RETURN;
    END IF;
    -- 2. Every gate fence free (taken shared, to commit), then, read after them as append_batch
    --    reads them, every epoch current (one look-up by key each: gate_epochs has a row per
    --    event). A command id seen before, or named twice, is refused by commands_pkey below,
    --    and a stream named twice by the upsert (one row cannot be written twice by one
    --    statement): not plain. (`command_id = ANY (...)` here was planned as a scan of the
    --    whole commands table.)
    IF NOT coalesce((SELECT bool_and(pg_try_advisory_xact_lock_shared(c_gate_lock_class,
                                                                       hashtext(x.k)))
                       FROM (SELECT DISTINCT k FROM unnest(p_gate_keys) AS k
                              WHERE k IS NOT NULL ORDER BY k) AS x), true) THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1
                 FROM unnest(p_gate_keys, p_gate_epochs) AS x(k, epoch)
                WHERE x.k IS NOT NULL
                  AND (SELECT g.epoch FROM gate_epochs g WHERE g.event_key = x.k)
                      IS DISTINCT FROM x.epoch) THEN
        RETURN;
    END IF;

    -- 3. The critical section, as append_batch's step 4.
    PERFORM pg_advisory_lock(c_position_lock);
    PERFORM pg_advisory_xact_lock(pg_current_xact_id()::text::bigint);
    SELECT array_agg(n ORDER BY n) INTO v_drawn
      FROM (SELECT nextval('events_position_seq') AS n
              FROM generate_series(1, v_events)) d;
    PERFORM pg_advisory_unlock(c_position_lock);

    -- 4. Every write, all or nothing.
    BEGIN
        WITH written AS (
            INSERT INTO streams AS t (stream_id, version)
            SELECT x.stream_id, x.n
              FROM unnest(p_stream_ids, v_stream_events) AS x(stream_id, n)
             ORDER BY x.stream_id
            ON CONFLICT (stream_id) DO UPDATE SET version = t.version + excluded.version
            RETURNING t.stream_id, t.version
        )
        SELECT array_agg(w.version ORDER BY x.i) INTO v_versions
          FROM unnest(p_stream_ids) WITH ORDINALITY AS x(stream_id, i)
          JOIN written w ON w.stream_id = x.stream_id;
        FOR s IN 1 .. v_streams LOOP
            IF p_expected[s] IS NOT NULL
               AND v_versions[s] - v_stream_events[s] <> p_expected[s] THEN
                RAISE EXCEPTION USING ERRCODE = 'RG001';  -- append_batch says which, and how
            END IF;
        END LOOP;

        v_next := array_fill(0::bigint, ARRAY[v_streams]);
        FOR s IN 1 .. v_streams LOOP
            v_next[s] := v_versions[s] - v_stream_events[s];
        END LOOP;
        v_event_versions := array_fill(0::bigint, ARRAY[v_events]);
        FOR e IN 1 .. v_events LOOP
            v_next[v_event_stream[e]] := v_next[v_event_stream[e]] + 1;
            v_event_versions[e] := v_next[v_event_stream[e]];
        END LOOP;

        INSERT INTO commands (command_id, fingerprint, positions, "position", stream_versions,
                              answer, recorded_at)
        SELECT p_command_ids[g.i], p_fingerprints[g.i],
               v_drawn[v_event_start[g.i] : v_event_start[g.i + 1] - 1],
               v_drawn[v_event_start[g.i + 1] - 1],
               v_versions[v_stream_start[g.i] : v_stream_start[g.i + 1] - 1],
               p_answers[g.i], v_recorded
          FROM generate_series(1, v_commands) AS g(i)
         WHERE p_command_ids[g.i] IS NOT NULL;

        IF cardinality(array_remove(p_details, NULL)) > 0 THEN
            INSERT INTO participant_details (organisation, event_id, participant_id, name,
                                             email, organisation_name)
            SELECT d ->> 'organisation', d ->> 'event_id', d ->> 'participant_id',
                   d ->> 'name', d ->> 'email', d ->> 'organisation_name'
              FROM unnest(p_details) AS k(doc), jsonb_array_elements(k.doc) AS d
             WHERE k.doc IS NOT NULL;
        END IF;

        INSERT INTO events ("position", event_id, stream_id, stream_version, type,
                            schema_version, data, metadata, recorded_at, transaction_id)
        SELECT v_drawn[g.i], p_event_ids[g.i], p_stream_ids[v_event_stream[g.i]],
               v_event_versions[g.i], p_types[g.i], p_schema_versions[g.i], p_data[g.i],
               p_metadata[v_event_command[g.i]], v_recorded, pg_current_xact_id()
          FROM generate_series(1, v_events) AS g(i)
         ORDER BY g.i;
    EXCEPTION
        WHEN OTHERS THEN
            RETURN;  -- not plain after all: nothing of it written (query_canceled is not caught)
    END;

    -- One notification for the batch, as append_batch.
    PERFORM pg_notify('registry_events', '');

    RETURN QUERY
    SELECT 'appended'::text, false,
           v_drawn[v_event_start[g.i] : v_event_start[g.i + 1] - 1],
           v_drawn[v_event_start[g.i + 1] - 1],
           v_versions[v_stream_start[g.i] : v_stream_start[g.i + 1] - 1],
           p_answers[g.i], NULL::text, NULL::text
      FROM generate_series(1, v_commands) AS g(i)
     ORDER BY g.i;
END;
$$;

-- SECURITY DEFINER and its search_path as append_batch's (0046). Generic plans always: every
-- statement above is planned the same whatever the batch (look-ups by key, rows from the
-- arrays), and left to choose, PostgreSQL planned some afresh at every call (~17 us a command of
-- a batch of nine, 85 against 68 us in all: bench/README.md, "2026-12-07, evening").
DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION append_batch_plain(text[], text[], jsonb[], jsonb[], text[], bigint[], '
        'integer[], integer[], text[], bigint[], integer[], uuid[], text[], integer[], jsonb[], '
        'jsonb[]) SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp '
        'SET plan_cache_mode = force_generic_plan',
        current_schema());
END;
$$;

REVOKE EXECUTE ON FUNCTION append_batch_plain(text[], text[], jsonb[], jsonb[], text[], bigint[],
                                              integer[], integer[], text[], bigint[], integer[],
                                              uuid[], text[], integer[], jsonb[], jsonb[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_batch_plain(text[], text[], jsonb[], jsonb[], text[], bigint[],
                                             integer[], integer[], text[], bigint[], integer[],
                                             uuid[], text[], integer[], jsonb[], jsonb[])
    TO registry_app, registry_maintenance;
