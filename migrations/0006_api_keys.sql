-- API keys: one role, one organisation each. Only a hash of the key is stored; the key itself is
-- shown once, when it is created.
--
-- key_hash is sha256 of the whole key (prefix included). A fast, unsalted hash is right here, unlike
-- for passwords: keys are 256-bit random values, so there is nothing to guess by brute force and a
-- salt or a slow hash would buy nothing, while a deterministic hash lets a request find its key by
-- an index lookup.
CREATE TABLE api_keys (
    id           uuid        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    organisation text        NOT NULL REFERENCES organisations (slug),
    role         text        NOT NULL,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Set once, never cleared: a revoked key stays for the record but no longer authenticates.
    revoked_at   timestamptz,
    CONSTRAINT api_keys_role CHECK (role IN ('organiser', 'form', 'auditor')),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_key_hash_sha256 CHECK (octet_length(key_hash) = 32)
);

CREATE INDEX api_keys_organisation ON api_keys (organisation);
