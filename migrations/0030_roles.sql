-- The two roles that make the log append-only (issue 7; DESIGN.md section 4). Migrations
-- 0030-0034 together:
--
--   registry_app          NOLOGIN. What the service acts as. Every connection of the API, the
--                         projector, the CLI and the benchmarks is opened with the startup
--                         parameter role=registry_app (src/registry/dbroles.py), whatever user its
--                         URL names, superusers included: the role is then the session's default,
--                         so neither the pool's RESET ALL nor a RESET ROLE drops it. It may read
--                         the log (events, streams, commands) and append to it only by calling
--                         append_events(), which writes as its owner (SECURITY DEFINER, 0031);
--                         it reads and writes every other table (0032).
--   registry_maintenance  NOLOGIN. The only role the trigger on events (0033, 0034) lets UPDATE,
--                         DELETE or TRUNCATE the log; it holds those privileges on the log's
--                         tables and may read the rest (0032).
--
-- A maintenance task (a repair, an erasure that must rewrite a row, a migration that backfills
-- a column of events) runs, as a superuser or a member of registry_maintenance:
--     BEGIN; SET LOCAL ROLE registry_maintenance; UPDATE events ...; COMMIT;
-- Nobody else can, the owner and superusers acting as themselves included: the trigger looks
-- at current_user, not at membership. (A superuser can still drop the trigger: it stops
-- mistakes and the service, not a hostile superuser; the hash chain makes that visible.)
--
-- Roles belong to the server, not to a database: every database on it (each test run's) shares
-- these two. So each is created only if missing, and losing the race to a migration of another
-- database that creates it at the same time (duplicate_object, or unique_violation when both
-- passed the check) is fine.
--
-- The user running the migrations (the owner of every table) is made a member of both when it
-- is not a superuser, so that a plain owner URL serves (SET ROLE registry_app) and can run a
-- maintenance task. That needs CREATEROLE (on PostgreSQL 16 and later, ADMIN OPTION on roles
-- another user created); without it this file fails, naming the statements a superuser runs
-- once, and then only checks.
DO $$
DECLARE
    v_role  text;
    v_super boolean := (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                         WHERE r.rolname = current_user);
BEGIN
    FOREACH v_role IN ARRAY ARRAY['registry_app', 'registry_maintenance'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = v_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- created meanwhile by a migration of another database
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                        MESSAGE = format('%s may not create role %s; as a superuser, run once: '
                                         'CREATE ROLE %I NOLOGIN; GRANT %I TO %I;',
                                         current_user, v_role, v_role, v_role, current_user);
            END;
        END IF;
        IF NOT v_super AND NOT pg_catalog.pg_has_role(current_user, v_role, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', v_role, current_user);
            EXCEPTION
                WHEN unique_violation THEN
                    NULL;  -- granted meanwhile by a migration of another database
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                        MESSAGE = format('%s may not make itself a member of %s; as a '
                                         'superuser, run once: GRANT %I TO %I;',
                                         current_user, v_role, v_role, current_user);
            END;
        END IF;
    END LOOP;
END;
$$;
