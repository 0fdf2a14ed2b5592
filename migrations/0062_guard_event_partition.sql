-- guard_event_partition(partition): what every partition of `events` (0065) needs besides what
-- it inherits from the partitioned table.
--
-- - The append-only trigger (0033, 0034) of its own: a statement-level trigger on a partitioned
--   table fires only for statements that name that table, so `DELETE FROM events_1_1000000`
--   or `TRUNCATE events_default` would pass the parent's. ENABLE ALWAYS, as on the parent.
--   (Row-level triggers, the outbox's of 0027, are cloned to every partition by PostgreSQL.)
-- - Privileges: a partition is a table too, and the default privileges (0032) would give the
--   service INSERT, UPDATE and DELETE on it. The service reads it (SELECT, harmless: the rows
--   are the parent's) and nothing more; registry_maintenance as on the parent.
CREATE FUNCTION guard_event_partition(p_partition regclass) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid = p_partition AND t.tgname = 'events_append_only') THEN
        EXECUTE format('CREATE TRIGGER events_append_only '
                       'BEFORE UPDATE OR DELETE OR TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()', p_partition);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER events_append_only', p_partition);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, registry_app', p_partition);
    EXECUTE format('GRANT SELECT ON %s TO registry_app', p_partition);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %s '
                   'TO registry_maintenance', p_partition);
END;
$$;

REVOKE EXECUTE ON FUNCTION guard_event_partition(regclass) FROM PUBLIC;
