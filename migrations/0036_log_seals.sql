-- Seals: the chain's hash at a position, published every so many events or seconds by the
-- chainer (src/registry/audit/chainer.py), for auditors to keep outside the system: a log
-- rewritten later, hashes included, no longer reaches a sealed hash (GET /v1/audit/seals,
-- `registry export`, verify's seal check).
CREATE TABLE log_seals (
    "position" bigint      NOT NULL,
    hash       bytea       NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT log_seals_pkey PRIMARY KEY ("position"),
    CONSTRAINT log_seals_hash_length CHECK (octet_length(hash) = 32)
);
