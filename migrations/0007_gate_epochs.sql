-- The capacity gate's fence: one row per event, its epoch bumped by every rebuild of the event's
-- gate from the log. A gate decision carries the epoch it was made in; append_events refuses it
-- once the epoch has moved on (RG004), so a decision made before a rebuild (Redis flushed, a hold
-- settled by the reconciler) can never land after the rebuild has read the log: no oversell.
CREATE TABLE gate_epochs (
    event_key   text        NOT NULL PRIMARY KEY,
    epoch       bigint      NOT NULL CHECK (epoch >= 1),
    rebuilt_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
