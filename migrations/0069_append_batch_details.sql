-- append_batch with personal data: a sixteenth argument, `p_details`, one JSON array per command
-- (or NULL) of the participant_details rows (0040) it writes, each an object with organisation,
-- event_id, participant_id, name, email and organisation_name. Otherwise as 0067.
--
-- Why: an append with personal data (a registration: RegisterParticipant, SubmitRegistration)
-- went alone, in a transaction of its own (append_row: BEGIN, append_events, the details'
-- INSERT, COMMIT), so that its details were written in its append's transaction. Registrations
-- cost PostgreSQL ~0.8 ms each that way, about five times a batched sign-up (bench/README.md,
-- 2026-12-07, afternoon), and a crowd registering when registration opens is the first crowd.
-- Here each command's details are inserted inside that command's subtransaction, right after
-- its command row: they commit with its events, a replayed command (step 1, or a repeat in the
-- batch) writes none twice, and a command whose participant has details already (the key
-- taken: 'participant_details_pkey') fails alone with RG005, its neighbours appended.
-- Erasures (an upsert of a tombstone) still go alone (postgres.py).
--
-- The fifteen-argument append_batch of 0046/0067 stays, now calling this one without details,
-- for processes of the previous release during a rolling deploy; a later migration may drop it.
CREATE FUNCTION append_batch(
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
    c_max_batch       constant integer := 60;
    v_commands  integer := coalesce(array_length(p_command_ids, 1), 0);
    v_outcome   text[];
    v_detail    text[];
    v_message   text[];
    v_answer    jsonb[];
    v_result_positions text[];   -- each command's positions, as text (no arrays of arrays)
    v_result_position  bigint[];
    v_result_versions  text[];
    v_stream_start integer[];    -- each command's first stream and first event (1-based)
    v_event_start  integer[];
    v_known     commands%ROWTYPE;
    v_epoch     bigint;
    v_key       text;
    v_fenced    text[] := ARRAY[]::text[];
    v_repeat    boolean[];
    v_seen      text[] := ARRAY[]::text[];
    v_actual    bigint;
    v_new       bigint;
    v_drawn     bigint[];
    v_draw_at   integer := 1;
    v_pending_events integer := 0;
    v_positions bigint[];
    v_versions  bigint[];
    v_counts    bigint[];
    v_next      bigint[];
    v_event_versions bigint[];
    v_recorded  timestamptz := clock_timestamp();
    -- Step 5's one INSERT: every appended command's events, gathered (0067).
    v_one_insert boolean;
    v_saved_outcome text[];
    v_saved_detail  text[];
    v_saved_message text[];
    v_saved_answer  jsonb[];
    v_saved_positions text[];
    v_saved_position  bigint[];
    v_saved_versions  text[];
    a_positions bigint[] := ARRAY[]::bigint[];
    a_ids       uuid[] := ARRAY[]::uuid[];
    a_streams   text[] := ARRAY[]::text[];
    a_versions  bigint[] := ARRAY[]::bigint[];
    a_types     text[] := ARRAY[]::text[];
    a_schema_versions integer[] := ARRAY[]::integer[];
    a_data      jsonb[] := ARRAY[]::jsonb[];
    a_metadata  jsonb[] := ARRAY[]::jsonb[];
    v_wrote     boolean := false;
    v_head      bigint;
    v_state     text;
    v_err_detail text;
    v_err_message text;
    c integer;
    s integer;
    e integer;
    s0 integer;
    e0 integer;
BEGIN
    IF v_commands > c_max_batch THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('append_batch takes at most %s commands, not %s', c_max_batch,
                             v_commands);
    END IF;
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RG002',
            MESSAGE = 'append_batch must be the first write of its transaction';
    END IF;

    v_outcome := array_fill(NULL::text, ARRAY[greatest(v_commands, 1)]);
    v_detail := v_outcome;
    v_message := v_outcome;
    v_result_positions := v_outcome;
    v_result_versions := v_outcome;
    v_answer := array_fill(NULL::jsonb, ARRAY[greatest(v_commands, 1)]);
    v_repeat := array_fill(false, ARRAY[greatest(v_commands, 1)]);
    v_result_position := array_fill(NULL::bigint, ARRAY[greatest(v_commands, 1)]);
    v_stream_start := array_fill(1, ARRAY[v_commands + 1]);
    v_event_start := array_fill(1, ARRAY[v_commands + 1]);
    FOR c IN 1 .. v_commands LOOP
        v_stream_start[c + 1] := v_stream_start[c] + p_stream_counts[c];
        v_event_start[c + 1] := v_event_start[c] + p_event_counts[c];
        v_answer[c] := p_answers[c];
    END LOOP;

    -- 1. Commands seen before: answer as the first time.
    FOR c IN 1 .. v_commands LOOP
        CONTINUE WHEN p_command_ids[c] IS NULL;
        SELECT * INTO v_known FROM commands k WHERE k.command_id = p_command_ids[c];
        IF FOUND THEN
            IF v_known.fingerprint IS DISTINCT FROM p_fingerprints[c] THEN
                v_outcome[c] := 'RG003';
                v_message[c] := format('command id %s was used for another command',
                                       p_command_ids[c]);
                v_detail[c] := json_build_object('command_id', p_command_ids[c])::text;
            ELSE
                v_outcome[c] := 'replayed';
                v_result_positions[c] := v_known.positions::text;
                v_result_position[c] := v_known."position";
                v_result_versions[c] := v_known.stream_versions::text;
                v_answer[c] := v_known.answer;
            END IF;
        ELSIF p_command_ids[c] = ANY (p_command_ids[1 : c - 1]) THEN
            -- A repeat of an earlier command of this batch: decided in its turn in step 5, once
            -- the earlier one has run (alone it would find that one's result, or none).
            v_repeat[c] := true;
        END IF;
    END LOOP;

    -- 2. Gate fences, shared, to commit; then each command's epoch. A fence taken (or waited
    --    for) by a rebuild or an organiser's change is not waited for here: its commands come
    --    back 'fenced' and the caller appends them alone (append_events waits), so that one
    --    event's change does not hold up the other events' commands in the batch.
    FOR v_key IN
        SELECT DISTINCT k FROM unnest(p_gate_keys) AS k WHERE k IS NOT NULL ORDER BY k
    LOOP
        IF NOT pg_try_advisory_xact_lock_shared(c_gate_lock_class, hashtext(v_key)) THEN
            v_fenced := v_fenced || v_key;
        END IF;
    END LOOP;
    FOR c IN 1 .. v_commands LOOP
        CONTINUE WHEN v_outcome[c] IS NOT NULL OR p_gate_keys[c] IS NULL OR v_repeat[c];
        IF p_gate_keys[c] = ANY (v_fenced) THEN
            v_outcome[c] := 'fenced';
            CONTINUE;
        END IF;
        SELECT g.epoch INTO v_epoch FROM gate_epochs g WHERE g.event_key = p_gate_keys[c];
        IF v_epoch IS DISTINCT FROM p_gate_epochs[c] THEN
            v_outcome[c] := 'RG004';
            v_message[c] := format('gate decision of epoch %s for %s is stale (current %s)',
                                   p_gate_epochs[c], p_gate_keys[c], v_epoch);
            v_detail[c] := json_build_object('gate_key', p_gate_keys[c],
                                             'epoch', p_gate_epochs[c], 'current', v_epoch)::text;
        END IF;
    END LOOP;

    -- 3. Cheap early check of expected versions, as append_events step 2.
    --    Only up to the first stream an earlier command of the batch names: what that one will
    --    find is known only in step 5, which checks every stream for real, in order.
    FOR c IN 1 .. v_commands LOOP
        CONTINUE WHEN v_outcome[c] IS NOT NULL;
        IF v_repeat[c] THEN
            v_pending_events := v_pending_events + p_event_counts[c];
            v_seen := v_seen || p_stream_ids[v_stream_start[c] : v_stream_start[c + 1] - 1];
            CONTINUE;
        END IF;
        FOR s IN v_stream_start[c] .. v_stream_start[c + 1] - 1 LOOP
            -- From the first such stream on, step 5 checks in order, as append_events would.
            EXIT WHEN p_stream_ids[s] = ANY (v_seen);
            CONTINUE WHEN p_expected[s] IS NULL;
            SELECT t.version INTO v_actual FROM streams t WHERE t.stream_id = p_stream_ids[s];
            v_actual := coalesce(v_actual, 0);
            IF v_actual <> p_expected[s] THEN
                v_outcome[c] := 'RG001';
                v_message[c] := format(
                    'wrong expected version for stream %s: expected %s, actual %s',
                    p_stream_ids[s], p_expected[s], v_actual);
                v_detail[c] := json_build_object('stream_id', p_stream_ids[s],
                                                 'expected', p_expected[s],
                                                 'actual', v_actual)::text;
                EXIT;
            END IF;
        END LOOP;
        IF v_outcome[c] IS NULL THEN
            v_pending_events := v_pending_events + p_event_counts[c];
            v_seen := v_seen || p_stream_ids[v_stream_start[c] : v_stream_start[c + 1] - 1];
        END IF;
    END LOOP;

    -- 4. The critical section, once for the batch: transaction id and every position together.
    IF v_pending_events > 0 THEN
        PERFORM pg_advisory_lock(c_position_lock);
        PERFORM pg_advisory_xact_lock(pg_current_xact_id()::text::bigint);
        SELECT array_agg(n ORDER BY n) INTO v_drawn
          FROM (SELECT nextval('events_position_seq') AS n
                  FROM generate_series(1, v_pending_events)) d;
        PERFORM pg_advisory_unlock(c_position_lock);
    END IF;

    -- 5. Each pending command alone: versions, command id, events (append_events steps 4 - 6).
    --    First with every command's events gathered into one INSERT at the end (0067: an INSERT
    --    into the partitioned log costs its set-up, per statement, more than its rows). Should
    --    that INSERT fail (an event a CHECK refuses), the whole step is rolled back and run
    --    again with each command's events inserted in its own subtransaction, as 0046 did, so
    --    that the failing command fails alone.
    v_one_insert := v_pending_events > 0;
    v_saved_outcome := v_outcome;
    v_saved_detail := v_detail;
    v_saved_message := v_message;
    v_saved_answer := v_answer;
    v_saved_positions := v_result_positions;
    v_saved_position := v_result_position;
    v_saved_versions := v_result_versions;
    <<attempt>>
    LOOP
    BEGIN
    FOR c IN 1 .. v_commands LOOP
        CONTINUE WHEN v_outcome[c] IS NOT NULL;
        s0 := v_stream_start[c];
        e0 := v_event_start[c];
        IF p_event_counts[c] > 0 THEN
            v_positions := v_drawn[v_draw_at : v_draw_at + p_event_counts[c] - 1];
            v_draw_at := v_draw_at + p_event_counts[c];
        ELSE
            v_positions := ARRAY[]::bigint[];
        END IF;
        IF v_repeat[c] THEN
            -- Its turn has come: the earlier command with its id ran (and may have failed).
            SELECT * INTO v_known FROM commands k WHERE k.command_id = p_command_ids[c];
            IF FOUND THEN
                IF v_known.fingerprint IS DISTINCT FROM p_fingerprints[c] THEN
                    v_outcome[c] := 'RG003';
                    v_message[c] := format('command id %s was used for another command',
                                           p_command_ids[c]);
                    v_detail[c] := json_build_object('command_id', p_command_ids[c])::text;
                ELSE
                    v_outcome[c] := 'replayed';
                    v_result_positions[c] := v_known.positions::text;
                    v_result_position[c] := v_known."position";
                    v_result_versions[c] := v_known.stream_versions::text;
                    v_answer[c] := v_known.answer;
                END IF;
                CONTINUE;
            END IF;
            IF p_gate_keys[c] IS NOT NULL THEN
                IF p_gate_keys[c] = ANY (v_fenced) THEN
                    v_outcome[c] := 'fenced';
                    CONTINUE;
                END IF;
                SELECT g.epoch INTO v_epoch FROM gate_epochs g WHERE g.event_key = p_gate_keys[c];
                IF v_epoch IS DISTINCT FROM p_gate_epochs[c] THEN
                    v_outcome[c] := 'RG004';
                    v_message[c] := format('gate decision of epoch %s for %s is stale (current %s)',
                                           p_gate_epochs[c], p_gate_keys[c], v_epoch);
                    v_detail[c] := json_build_object('gate_key', p_gate_keys[c],
                                                     'epoch', p_gate_epochs[c],
                                                     'current', v_epoch)::text;
                    CONTINUE;
                END IF;
            END IF;
        END IF;
        BEGIN
            IF p_event_counts[c] > 0 THEN
                v_head := v_positions[p_event_counts[c]];
            ELSE
                SELECT coalesce(max(x."position"), 0) INTO v_head FROM events x;
                -- The earlier commands' events, not inserted yet on the first attempt.
                v_head := greatest(v_head, coalesce(a_positions[cardinality(a_positions)], 0));
            END IF;
            v_counts := array_fill(0::bigint, ARRAY[greatest(p_stream_counts[c], 1)]);
            FOR e IN e0 .. v_event_start[c + 1] - 1 LOOP
                v_counts[p_event_streams[e]] := v_counts[p_event_streams[e]] + 1;
            END LOOP;
            v_versions := ARRAY[]::bigint[];
            FOR s IN 1 .. p_stream_counts[c] LOOP
                v_new := NULL;
                IF v_counts[s] = 0 THEN
                    SELECT t.version INTO v_new FROM streams t
                     WHERE t.stream_id = p_stream_ids[s0 + s - 1] FOR SHARE;
                    v_new := coalesce(v_new, 0);
                    IF p_expected[s0 + s - 1] IS NOT NULL AND v_new <> p_expected[s0 + s - 1] THEN
                        v_new := NULL;
                    END IF;
                ELSIF p_expected[s0 + s - 1] IS NULL THEN
                    INSERT INTO streams AS t (stream_id, version)
                    VALUES (p_stream_ids[s0 + s - 1], v_counts[s])
                    ON CONFLICT (stream_id) DO UPDATE SET version = t.version + excluded.version
                    RETURNING t.version INTO v_new;
                ELSIF p_expected[s0 + s - 1] = 0 THEN
                    INSERT INTO streams (stream_id, version)
                    VALUES (p_stream_ids[s0 + s - 1], v_counts[s])
                    ON CONFLICT (stream_id) DO NOTHING
                    RETURNING version INTO v_new;
                ELSE
                    UPDATE streams t SET version = t.version + v_counts[s]
                     WHERE t.stream_id = p_stream_ids[s0 + s - 1]
                       AND t.version = p_expected[s0 + s - 1]
                    RETURNING t.version INTO v_new;
                END IF;
                IF v_new IS NULL THEN
                    SELECT t.version INTO v_actual FROM streams t
                     WHERE t.stream_id = p_stream_ids[s0 + s - 1];
                    v_actual := coalesce(v_actual, 0);
                    RAISE EXCEPTION USING ERRCODE = 'RG001',
                        MESSAGE = format(
                            'wrong expected version for stream %s: expected %s, actual %s',
                            p_stream_ids[s0 + s - 1], p_expected[s0 + s - 1], v_actual),
                        DETAIL = json_build_object('stream_id', p_stream_ids[s0 + s - 1],
                                                   'expected', p_expected[s0 + s - 1],
                                                   'actual', v_actual)::text;
                END IF;
                v_versions := v_versions || v_new;
            END LOOP;

            IF p_command_ids[c] IS NOT NULL THEN
                INSERT INTO commands (command_id, fingerprint, positions, "position",
                                      stream_versions, answer, recorded_at)
                VALUES (p_command_ids[c], p_fingerprints[c], v_positions, v_head, v_versions,
                        p_answers[c], v_recorded);
            END IF;

            -- The command's personal data (0040: outside the log, in its append's transaction),
            -- in the command's subtransaction: someone whose details are kept already fails
            -- this command alone (RG005), as append_row does for an append alone.
            IF p_details[c] IS NOT NULL THEN
                INSERT INTO participant_details (organisation, event_id, participant_id, name,
                                                 email, organisation_name)
                SELECT d ->> 'organisation', d ->> 'event_id', d ->> 'participant_id',
                       d ->> 'name', d ->> 'email', d ->> 'organisation_name'
                  FROM jsonb_array_elements(p_details[c]) AS d;
            END IF;

            IF p_event_counts[c] > 0 THEN
                v_next := ARRAY[]::bigint[];
                FOR s IN 1 .. p_stream_counts[c] LOOP
                    v_next := v_next || (v_versions[s] - v_counts[s]);
                END LOOP;
                v_event_versions := ARRAY[]::bigint[];
                FOR e IN e0 .. v_event_start[c + 1] - 1 LOOP
                    v_next[p_event_streams[e]] := v_next[p_event_streams[e]] + 1;
                    v_event_versions := v_event_versions || v_next[p_event_streams[e]];
                END LOOP;
                IF v_one_insert THEN
                    a_positions := a_positions || v_positions;
                    a_ids := a_ids || p_event_ids[e0 : v_event_start[c + 1] - 1];
                    FOR e IN e0 .. v_event_start[c + 1] - 1 LOOP
                        a_streams := a_streams || p_stream_ids[s0 + p_event_streams[e] - 1];
                        a_metadata := a_metadata || p_metadata[c];
                    END LOOP;
                    a_versions := a_versions || v_event_versions;
                    a_types := a_types || p_types[e0 : v_event_start[c + 1] - 1];
                    a_schema_versions := a_schema_versions
                                         || p_schema_versions[e0 : v_event_start[c + 1] - 1];
                    a_data := a_data || p_data[e0 : v_event_start[c + 1] - 1];
                ELSE
                INSERT INTO events ("position", event_id, stream_id, stream_version, type,
                                    schema_version, data, metadata, recorded_at, transaction_id)
                SELECT x.pos, x.id, p_stream_ids[s0 + x.stream - 1], x.version, x.type,
                       x.schema_version, x.data, p_metadata[c], v_recorded, pg_current_xact_id()
                  FROM unnest(v_positions, p_event_ids[e0 : v_event_start[c + 1] - 1],
                              p_event_streams[e0 : v_event_start[c + 1] - 1], v_event_versions,
                              p_types[e0 : v_event_start[c + 1] - 1],
                              p_schema_versions[e0 : v_event_start[c + 1] - 1],
                              p_data[e0 : v_event_start[c + 1] - 1])
                       AS x(pos, id, stream, version, type, schema_version, data);
                END IF;
                v_wrote := true;
            END IF;
            v_outcome[c] := 'appended';
            v_result_positions[c] := v_positions::text;
            v_result_position[c] := v_head;
            v_result_versions[c] := v_versions::text;
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_err_detail = CONSTRAINT_NAME;
                IF v_err_detail = 'commands_pkey' THEN
                    v_outcome[c] := 'twin';
                ELSIF v_err_detail = 'participant_details_pkey' THEN
                    -- Not PostgreSQL's message: it would quote the key.
                    v_outcome[c] := 'RG005';
                    v_message[c] := 'personal data of this participant is kept already';
                ELSE
                    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE,
                        v_err_message = MESSAGE_TEXT, v_err_detail = PG_EXCEPTION_DETAIL;
                    v_outcome[c] := v_state;
                    v_message[c] := v_err_message;
                    v_detail[c] := v_err_detail;
                END IF;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE,
                    v_err_message = MESSAGE_TEXT, v_err_detail = PG_EXCEPTION_DETAIL;
                v_outcome[c] := v_state;
                v_message[c] := v_err_message;
                v_detail[c] := v_err_detail;
        END;
    END LOOP;
    IF v_one_insert AND cardinality(a_positions) > 0 THEN
        INSERT INTO events ("position", event_id, stream_id, stream_version, type,
                            schema_version, data, metadata, recorded_at, transaction_id)
        SELECT x.pos, x.id, x.stream, x.version, x.type, x.schema_version, x.data, x.metadata,
               v_recorded, pg_current_xact_id()
          FROM unnest(a_positions, a_ids, a_streams, a_versions, a_types, a_schema_versions,
                      a_data, a_metadata)
               AS x(pos, id, stream, version, type, schema_version, data, metadata);
    END IF;
    EXIT attempt;
    EXCEPTION
        WHEN OTHERS THEN
            IF NOT v_one_insert THEN
                RAISE;
            END IF;
            -- Everything step 5 did is rolled back with this block: again, one by one.
            v_one_insert := false;
            v_outcome := v_saved_outcome;
            v_detail := v_saved_detail;
            v_message := v_saved_message;
            v_answer := v_saved_answer;
            v_result_positions := v_saved_positions;
            v_result_position := v_saved_position;
            v_result_versions := v_saved_versions;
            v_draw_at := 1;
            v_wrote := false;
            -- The only gathered array the second attempt reads (for the head, and empty).
            a_positions := ARRAY[]::bigint[];
    END;
    END LOOP attempt;

    IF v_wrote THEN
        -- One notification for the batch, as append_events sends one per transaction.
        PERFORM pg_notify('registry_events', '');
    END IF;

    FOR c IN 1 .. v_commands LOOP
        outcome := v_outcome[c];
        replayed := v_outcome[c] = 'replayed';
        positions := v_result_positions[c]::bigint[];
        "position" := v_result_position[c];
        stream_versions := v_result_versions[c]::bigint[];
        answer := v_answer[c];
        detail := v_detail[c];
        message := v_message[c];
        RETURN NEXT;
    END LOOP;
END;
$$;

DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION append_batch(text[], text[], jsonb[], jsonb[], text[], bigint[], '
        'integer[], integer[], text[], bigint[], integer[], uuid[], text[], integer[], jsonb[], '
        'jsonb[]) SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
        current_schema());
END;
$$;

REVOKE EXECUTE ON FUNCTION append_batch(text[], text[], jsonb[], jsonb[], text[], bigint[],
                                        integer[], integer[], text[], bigint[], integer[], uuid[],
                                        text[], integer[], jsonb[], jsonb[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_batch(text[], text[], jsonb[], jsonb[], text[], bigint[],
                                       integer[], integer[], text[], bigint[], integer[], uuid[],
                                       text[], integer[], jsonb[], jsonb[])
    TO registry_app, registry_maintenance;

-- The previous signature, for a process of the previous release: the same, without details.
CREATE OR REPLACE FUNCTION append_batch(
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
    p_data            jsonb[]
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
LANGUAGE sql
AS $$
    SELECT * FROM append_batch(p_command_ids, p_fingerprints, p_answers, p_metadata, p_gate_keys,
                               p_gate_epochs, p_stream_counts, p_event_counts, p_stream_ids,
                               p_expected, p_event_streams, p_event_ids, p_types,
                               p_schema_versions, p_data, NULL::jsonb[]);
$$;

DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION append_batch(text[], text[], jsonb[], jsonb[], text[], bigint[], '
        'integer[], integer[], text[], bigint[], integer[], uuid[], text[], integer[], jsonb[]) '
        'SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
        current_schema());
END;
$$;
