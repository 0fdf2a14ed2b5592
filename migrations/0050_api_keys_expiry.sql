-- API keys may be given an expiry (`registry keys create --expires-in/--expires-at`). From then
-- on the key answers 401 like a revoked one; the row stays for the record (`registry keys list`).
-- NULL: the key does not expire (every key made before this migration).
--
-- Checked where the key is looked up (registry.auth.keys.SELECT_ACTIVE_KEY compares it with the
-- database's now(), one clock for every worker), and the principal cache never keeps an entry
-- past it (registry.auth.cache).
ALTER TABLE api_keys
    ADD COLUMN expires_at timestamptz,
    ADD CONSTRAINT api_keys_expires_after_creation
        CHECK (expires_at IS NULL OR expires_at > created_at);
