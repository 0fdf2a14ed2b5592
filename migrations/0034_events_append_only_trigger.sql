-- The log refuses UPDATE, DELETE and TRUNCATE from every role but registry_maintenance: the
-- check is events_append_only() (0033). TRUNCATE fires only statement-level triggers, hence
-- FOR EACH STATEMENT for all three.
--
-- ENABLE ALWAYS: the trigger fires under session_replication_role = replica as well, which
-- would otherwise switch it off (a restore or a replication tool sets it).
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT
    EXECUTE FUNCTION events_append_only();

ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only;
