-- events_append_only(): the body of the trigger of 0034, which runs it before every UPDATE,
-- DELETE or TRUNCATE statement on events. It refuses the statement unless current_user is
-- registry_maintenance (0030 says how a maintenance task becomes it), with
--   RG030  the log is append-only   {"operation", "table", "role"}
-- (a code of its own, numbered after this migration, clear of append_events' RG001-RG004).
--
-- current_user, not membership: a superuser or the tables' owner acting as itself is refused
-- too, so rewriting the log always takes an explicit SET ROLE registry_maintenance. The service
-- never gets this far: registry_app has no UPDATE, DELETE or TRUNCATE privilege on the log
-- (0032), so PostgreSQL refuses it first (42501). Statement-level, so the check costs nothing per
-- row, and an UPDATE or DELETE that matches no row is refused as well.
CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_user = 'registry_maintenance' THEN
        RETURN NULL;  -- ignored for statement-level triggers: the statement goes ahead
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'RG030',
        MESSAGE = format('the log is append-only: %s on %s refused for role %s',
                         TG_OP, TG_TABLE_NAME, current_user),
        DETAIL = json_build_object('operation', TG_OP, 'table', TG_TABLE_NAME,
                                   'role', current_user)::text,
        HINT = 'a maintenance task runs SET LOCAL ROLE registry_maintenance first';
END;
$$;
