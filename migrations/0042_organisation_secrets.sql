-- Each organisation's e-mail key: the HMAC-SHA256 secret of the e-mail uniqueness streams
-- (email-<organisation>:<event>:<digest>, src/registry/domain/streams.py). It lives here and never
-- in the log: with a plain hash, anyone holding the log could test guessed addresses against the
-- digests; now only someone holding this table as well can. Made on first use by the service
-- (src/registry/eventstore/personal_pg.py) and never changed: a new key would give an address
-- another digest and let it register twice. Erasing a participant keeps it.
CREATE TABLE organisation_secrets (
    organisation text        NOT NULL PRIMARY KEY,
    email_key    bytea       NOT NULL CHECK (length(email_key) >= 32),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The service makes a key and reads it, never changes or deletes one (0032 grants every later
-- table in full to registry_app by default). Only where the role exists (0030).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'registry_app') THEN
        REVOKE UPDATE, DELETE ON organisation_secrets FROM registry_app;
    END IF;
END;
$$;
