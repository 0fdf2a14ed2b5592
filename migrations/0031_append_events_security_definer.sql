-- append_events() (0020) runs as its owner, the user that ran the migrations (SECURITY DEFINER),
-- and only registry_app (and registry_maintenance) may call it.
--
-- Why: then registry_app needs no write privilege on the log at all, only SELECT on events,
-- streams and commands (0032). The service cannot INSERT into events except through this
-- function, which is what the readers' order guarantee rests on: positions drawn inside the
-- critical section, each append marked in flight for log_fence() (0004, 0018). A direct INSERT,
-- even one the privileges allowed, could commit a position a reader has already passed. Without
-- SECURITY DEFINER the app role would need INSERT on events and commands, INSERT and UPDATE on
-- streams and USAGE on events_position_seq: append-only still, but no longer append-through-
-- the-function-only.
--
-- The usual care for a SECURITY DEFINER function: a fixed search_path (the schema the
-- migrations run in, behind pg_catalog, pg_temp last), so no object a caller creates can stand
-- in for one the body names; and EXECUTE revoked from PUBLIC, which has it on every new function.
-- The trigger on events that fills the outbox (0027) runs inside it, so as the owner as well.
--
-- A migration that re-creates append_events (DROP and CREATE, or CREATE OR REPLACE) must declare
-- it again: SECURITY DEFINER, the same SET search_path, and the same REVOKE/GRANT; the test
-- tests/integration/test_log_append_only.py checks all three.
DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION append_events(text, text, jsonb, jsonb, text[], bigint[], integer[], '
        'uuid[], text[], integer[], jsonb[], text, bigint) '
        'SECURITY DEFINER SET search_path = pg_catalog, %I, pg_temp',
        current_schema());
END;
$$;

REVOKE EXECUTE ON FUNCTION append_events(text, text, jsonb, jsonb, text[], bigint[], integer[],
                                         uuid[], text[], integer[], jsonb[], text, bigint)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_events(text, text, jsonb, jsonb, text[], bigint[], integer[],
                                        uuid[], text[], integer[], jsonb[], text, bigint)
    TO registry_app, registry_maintenance;
