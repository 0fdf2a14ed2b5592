-- The log's hash chain (src/registry/audit/chain.py has the encoding; chainer.py fills this).
--
-- One row per event, written once by the chainer, in position order, only for the fenced,
-- finalized prefix of the log: hash = SHA-256(hash of prev_position || canonical encoding of the
-- event). prev_position is the previous *existing* event (0 for the first): positions drawn by an
-- append that rolled back are never used, so the log may have gaps, and the chain steps over them.
--
-- No foreign key to events: verify must be able to tell "the event at N was deleted" from the
-- hash left behind (a foreign key would forbid that, or cascade the evidence away), and the
-- chainer's inserts should not pay for a lookup per row.
-- UNIQUE (prev_position): every event has at most one successor, so the chain is one sequence.
CREATE TABLE event_hashes (
    "position"    bigint NOT NULL,
    hash          bytea  NOT NULL,
    prev_position bigint NOT NULL,
    CONSTRAINT event_hashes_pkey PRIMARY KEY ("position"),
    CONSTRAINT event_hashes_prev_position_key UNIQUE (prev_position),
    CONSTRAINT event_hashes_hash_length CHECK (octet_length(hash) = 32),
    CONSTRAINT event_hashes_prev_before CHECK (prev_position >= 0 AND prev_position < "position")
);
