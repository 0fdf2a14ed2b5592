-- Webhooks: the URLs an organiser registers to be told of what changed in their organisation
-- (src/registry/notifications/). `secret` signs every delivery (HMAC-SHA256); it is stored as
-- given, not hashed, because signing needs it; it is shown once, when the webhook is registered.
CREATE TABLE webhooks (
    id           uuid        NOT NULL PRIMARY KEY,
    organisation text        NOT NULL REFERENCES organisations (slug),
    url          text        NOT NULL,
    secret       text        NOT NULL,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Set once, never cleared: a deleted webhook stays for its deliveries' record but gets
    -- no new ones.
    revoked_at   timestamptz,
    CONSTRAINT webhooks_url_scheme CHECK (url ~ '^https?://')
);

-- Fan-out (active webhooks of one organisation) and the list route (created_at, id order).
CREATE INDEX webhooks_organisation ON webhooks (organisation, created_at, id);
