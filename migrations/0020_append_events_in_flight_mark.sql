-- append_events, now marking itself for log_fence() (0018_log_fence.sql): inside the position
-- critical section, right after taking its transaction id, it takes a transaction-level advisory
-- lock keyed by that id, held to commit. Everything else is as in 0009.
DROP FUNCTION append_events(text, text, jsonb, jsonb, text[], bigint[], integer[], uuid[], text[],
                            integer[], jsonb[], text, bigint);

CREATE FUNCTION append_events(
    p_command_id      text,
    p_fingerprint     text,
    p_answer          jsonb,
    p_metadata        jsonb,
    p_stream_ids      text[],
    p_expected        bigint[],
    p_event_streams   integer[],
    p_event_ids       uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_gate_key        text,
    p_gate_epoch      bigint,
    OUT replayed         boolean,
    OUT positions        bigint[],
    OUT "position"       bigint,
    OUT stream_versions  bigint[],
    OUT answer           jsonb
)
LANGUAGE plpgsql
AS $$
DECLARE
    -- The advisory lock key of the position critical section ('registry' in ASCII, as a number).
    c_position_lock constant bigint := 8243116260271552889;
    v_streams   integer := coalesce(array_length(p_stream_ids, 1), 0);
    v_events    integer := coalesce(array_length(p_event_ids, 1), 0);
    v_counts    bigint[] := array_fill(0::bigint, ARRAY[greatest(v_streams, 1)]);
    v_actual    bigint;
    v_new       bigint;
    v_versions  bigint[] := ARRAY[]::bigint[];
    v_next      bigint[];
    v_event_versions bigint[];
    v_recorded  timestamptz := clock_timestamp();
    v_known     commands%ROWTYPE;
    v_epoch     bigint;
    -- The advisory lock class of the gate fence ('gate' in ASCII); the key is the event's hash.
    c_gate_lock_class constant integer := 1734439013;
    i           integer;
BEGIN
    replayed := false;
    answer := p_answer;

    -- 1. A command seen before: answer as the first time, write nothing.
    IF p_command_id IS NOT NULL THEN
        SELECT * INTO v_known FROM commands c WHERE c.command_id = p_command_id;
        IF FOUND THEN
            IF v_known.fingerprint IS DISTINCT FROM p_fingerprint THEN
                RAISE EXCEPTION USING ERRCODE = 'RG003',
                    MESSAGE = format('command id %s was used for another command', p_command_id),
                    DETAIL = json_build_object('command_id', p_command_id)::text;
            END IF;
            replayed := true;
            positions := v_known.positions;
            "position" := v_known."position";
            stream_versions := v_known.stream_versions;
            answer := v_known.answer;
            RETURN;
        END IF;
    END IF;

    -- 1b. The gate fence: shared lock to commit, then the epoch check (no transaction id needed).
    IF p_gate_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(c_gate_lock_class, hashtext(p_gate_key));
        SELECT g.epoch INTO v_epoch FROM gate_epochs g WHERE g.event_key = p_gate_key;
        IF v_epoch IS DISTINCT FROM p_gate_epoch THEN
            RAISE EXCEPTION USING ERRCODE = 'RG004',
                MESSAGE = format('gate decision of epoch %s for %s is stale (current %s)',
                                 p_gate_epoch, p_gate_key, v_epoch),
                DETAIL = json_build_object('gate_key', p_gate_key, 'epoch', p_gate_epoch,
                                           'current', v_epoch)::text;
        END IF;
    END IF;

    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RG002',
            MESSAGE = 'append_events must be the first write of its transaction';
    END IF;

    FOR i IN 1 .. v_events LOOP
        v_counts[p_event_streams[i]] := v_counts[p_event_streams[i]] + 1;
    END LOOP;

    -- 2. Cheap early check of expected versions (no lock, no transaction id), so that most
    --    conflicts fail before drawing positions. The check that counts is in step 4.
    FOR i IN 1 .. v_streams LOOP
        IF p_expected[i] IS NOT NULL THEN
            SELECT s.version INTO v_actual FROM streams s WHERE s.stream_id = p_stream_ids[i];
            v_actual := coalesce(v_actual, 0);
            IF v_actual <> p_expected[i] THEN
                RAISE EXCEPTION USING ERRCODE = 'RG001',
                    MESSAGE = format('wrong expected version for stream %s: expected %s, actual %s',
                                     p_stream_ids[i], p_expected[i], v_actual),
                    DETAIL = json_build_object('stream_id', p_stream_ids[i],
                                               'expected', p_expected[i], 'actual', v_actual)::text;
            END IF;
        END IF;
    END LOOP;

    -- 3. The critical section: transaction id and positions together (see the header).
    IF v_events > 0 THEN
        PERFORM pg_advisory_lock(c_position_lock);
        -- Mark this append in flight for log_fence() (0018): a lock keyed by its own id.
        PERFORM pg_advisory_xact_lock(pg_current_xact_id()::text::bigint);
        SELECT array_agg(n ORDER BY n) INTO positions
          FROM (SELECT nextval('events_position_seq') AS n FROM generate_series(1, v_events)) d;
        PERFORM pg_advisory_unlock(c_position_lock);
        "position" := positions[v_events];
    ELSE
        positions := ARRAY[]::bigint[];
        SELECT coalesce(max(e."position"), 0) INTO "position" FROM events e;
    END IF;

    -- 4. Versions, for real: the row lock taken here holds each stream until commit.
    FOR i IN 1 .. v_streams LOOP
        v_new := NULL;
        IF v_counts[i] = 0 THEN
            SELECT s.version INTO v_new FROM streams s WHERE s.stream_id = p_stream_ids[i] FOR SHARE;
            v_new := coalesce(v_new, 0);
            IF p_expected[i] IS NOT NULL AND v_new <> p_expected[i] THEN
                v_actual := v_new;
                v_new := NULL;
            END IF;
        ELSIF p_expected[i] IS NULL THEN
            INSERT INTO streams AS s (stream_id, version) VALUES (p_stream_ids[i], v_counts[i])
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version
            RETURNING s.version INTO v_new;
        ELSIF p_expected[i] = 0 THEN
            -- DO NOTHING is the check here: no row back means the stream exists (conflict below).
            INSERT INTO streams (stream_id, version) VALUES (p_stream_ids[i], v_counts[i])
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING version INTO v_new;
        ELSE
            UPDATE streams s SET version = s.version + v_counts[i]
             WHERE s.stream_id = p_stream_ids[i] AND s.version = p_expected[i]
            RETURNING s.version INTO v_new;
        END IF;
        IF v_new IS NULL THEN
            SELECT s.version INTO v_actual FROM streams s WHERE s.stream_id = p_stream_ids[i];
            v_actual := coalesce(v_actual, 0);
            RAISE EXCEPTION USING ERRCODE = 'RG001',
                MESSAGE = format('wrong expected version for stream %s: expected %s, actual %s',
                                 p_stream_ids[i], p_expected[i], v_actual),
                DETAIL = json_build_object('stream_id', p_stream_ids[i],
                                           'expected', p_expected[i], 'actual', v_actual)::text;
        END IF;
        v_versions := v_versions || v_new;
    END LOOP;
    stream_versions := v_versions;

    -- 5. Record the command id with its result. A twin of this command running concurrently was
    --    stopped at step 4 (its stream rows are locked until the twin commits) or stops here with a
    --    unique violation; either way this transaction writes nothing and the caller returns the
    --    twin's stored result (see PostgresEventStore.append).
    IF p_command_id IS NOT NULL THEN
        INSERT INTO commands (command_id, fingerprint, positions, "position", stream_versions,
                              answer, recorded_at)
        VALUES (p_command_id, p_fingerprint, positions, "position", stream_versions, p_answer,
                v_recorded);
    END IF;

    -- 6. The events, each stream's numbered on from its version before this append.
    IF v_events > 0 THEN
        v_next := ARRAY[]::bigint[];
        FOR i IN 1 .. v_streams LOOP
            v_next := v_next || (v_versions[i] - v_counts[i]);
        END LOOP;
        v_event_versions := ARRAY[]::bigint[];
        FOR i IN 1 .. v_events LOOP
            v_next[p_event_streams[i]] := v_next[p_event_streams[i]] + 1;
            v_event_versions := v_event_versions || v_next[p_event_streams[i]];
        END LOOP;
        INSERT INTO events ("position", event_id, stream_id, stream_version, type, schema_version,
                            data, metadata, recorded_at, transaction_id)
        SELECT e.pos, e.id, p_stream_ids[e.stream], e.version, e.type, e.schema_version, e.data,
               p_metadata, v_recorded, pg_current_xact_id()
          FROM unnest(positions, p_event_ids, p_event_streams, v_event_versions, p_types,
                      p_schema_versions, p_data)
               AS e(pos, id, stream, version, type, schema_version, data);
        -- One notification per transaction: equal payloads in one transaction are folded into one.
        PERFORM pg_notify('registry_events', '');
    END IF;
END;
$$;
