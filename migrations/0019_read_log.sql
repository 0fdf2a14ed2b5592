-- read_log(from, limit): the log in position order from `from`, never past an append that could
-- still commit with a smaller position. The fence is taken first, the events read by a later
-- statement, so with a newer snapshot (a VOLATILE plpgsql function takes a fresh snapshot per
-- statement in READ COMMITTED): every append below the fence is visible to it (0018 says why).
CREATE FUNCTION read_log(p_from bigint, p_limit integer)
RETURNS TABLE ("position" bigint, event_id uuid, stream_id text, stream_version bigint,
               type text, schema_version integer, data text, metadata text,
               recorded_at timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_fence xid8 := log_fence();
BEGIN
    RETURN QUERY
    SELECT e."position", e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version,
           e.data::text, e.metadata::text, e.recorded_at
      FROM events e
     WHERE e."position" >= p_from AND e.transaction_id < v_fence
     ORDER BY e."position"
     LIMIT p_limit;
END;
$$;
