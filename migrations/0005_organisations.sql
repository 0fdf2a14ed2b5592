-- Organisations: the tenants. Every API key belongs to one, and a key sees only its own
-- organisation's data. Created on first use (`registry keys create --org SLUG`).
CREATE TABLE organisations (
    slug       text        NOT NULL PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The client-chosen id format of API.md; PostgreSQL's `$` is the end of the string.
    CONSTRAINT organisations_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$')
);
