-- event_partitions(): the partitions of `events` (0065) as PostgreSQL's catalogue has them, by
-- range: name, first position, and the end (exclusive; NULL for the DEFAULT partition). The
-- catalogue is the truth, so no table of ours can drift from it: the bounds are read back from
-- pg_get_expr's text, `FOR VALUES FROM ('1') TO ('1000001')` (or `DEFAULT`).
CREATE FUNCTION event_partitions()
RETURNS TABLE (name text, first_position bigint, end_position bigint)
LANGUAGE sql STABLE
AS $$
SELECT c.relname::text,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''?(-?\d+)''?\)'))[1]::bigint,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''?(-?\d+)''?\)'))[1]::bigint
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = to_regclass('events')
 ORDER BY 2 NULLS LAST
$$;
