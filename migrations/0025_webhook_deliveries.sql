-- One delivery of one outbox row to one webhook. `delivery_id` is sent with every attempt
-- (Registry-Delivery and the body's delivery_id): the same on each retry, so receivers can
-- deduplicate on it.
--
-- state  pending    waiting for its next attempt at `next_attempt_at` (a claimed one has it moved
--                   on by a lease, so a dispatcher that dies mid-request is retried after it)
--        delivered  a 2xx answer was received (`delivered_at`)
--        dead       the attempts ran out, or the webhook was deleted (`last_error` says which)
CREATE TABLE webhook_deliveries (
    delivery_id     uuid        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    outbox_id       bigint      NOT NULL REFERENCES outbox (id),
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id),
    organisation    text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz DEFAULT clock_timestamp(),
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT webhook_deliveries_state CHECK (state IN ('pending', 'delivered', 'dead')),
    CONSTRAINT webhook_deliveries_pending_is_scheduled
        CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_once UNIQUE (outbox_id, webhook_id)
);

-- The dispatcher's claim: due pending deliveries, by when they are due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- The list route: one organisation's deliveries in outbox order, keyset-paged.
CREATE INDEX webhook_deliveries_listing
    ON webhook_deliveries (organisation, outbox_id, delivery_id);
-- Deleting a webhook ends its pending deliveries.
CREATE INDEX webhook_deliveries_pending_by_webhook ON webhook_deliveries (webhook_id)
    WHERE state = 'pending';
