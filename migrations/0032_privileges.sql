-- What registry_app and registry_maintenance (0030) may do in this database.
--
-- registry_app, the service:
--   the log (events, streams, commands)   SELECT only; appends go through append_events()
--                                         (SECURITY DEFINER, 0031); no UPDATE, DELETE, TRUNCATE
--   events_position_seq                   nothing (append_events draws positions)
--   gate_epochs                           SELECT, INSERT, UPDATE (a gate rebuild bumps the epoch;
--                                         a deleted row would let a stale decision in)
--   schema_migrations                     SELECT (readiness lists pending migrations)
--   every other table                     SELECT, INSERT, UPDATE, DELETE (read models and their
--                                         generations, checkpoints, keys, webhooks, outbox, ...)
--   every other sequence                  USAGE, SELECT
--   functions                             EXECUTE (PUBLIC's, except append_events: 0031)
-- registry_maintenance, a maintenance task (see 0030): SELECT on every table, and SELECT, INSERT,
-- UPDATE, DELETE, TRUNCATE on the log's tables and its sequence.
-- Neither role may TRUNCATE anything else, nor create objects.
--
-- Tables made by later migrations: the default privileges below give registry_app SELECT,
-- INSERT, UPDATE, DELETE (and USAGE on sequences) on every table the migrating user creates from
-- now on, and registry_maintenance SELECT. A later table that belongs to the log, or that the
-- service must not write, REVOKEs in its own migration; tests/integration/test_log_append_only.py
-- checks that registry_app can use every table but the log's.
DO $$
DECLARE
    v_schema text := current_schema();
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO registry_app, registry_maintenance', v_schema);
    -- Servers before 15 let PUBLIC create objects in "public": no role of ours may.
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', v_schema);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                   'TO registry_app', v_schema);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO registry_app', v_schema);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO registry_maintenance', v_schema);
END;
$$;

-- The log: read only for the service.
REVOKE INSERT, UPDATE, DELETE ON events, streams, commands FROM registry_app;
REVOKE ALL ON SEQUENCE events_position_seq FROM registry_app;
REVOKE DELETE ON gate_epochs FROM registry_app;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM registry_app;

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON events, streams, commands
    TO registry_maintenance;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE events_position_seq TO registry_maintenance;

-- Objects the migrating user creates later (in any schema of this database).
ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO registry_app;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO registry_app;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO registry_maintenance;
