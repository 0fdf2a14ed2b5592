-- Which generation of each projection's tables the reads see. A rebuild fills generation N+1
-- beside the live one and swaps by updating this row (projections/rebuild.py): no DDL at run
-- time, and reads never see a half-built model. A runner reads the live generation inside every
-- batch's transaction (FOR SHARE), so a swap waits for the batch in flight and the next batch
-- carries on in the new generation from that generation's checkpoint.
CREATE TABLE projection_state (
    name            text    NOT NULL PRIMARY KEY,
    live_generation integer NOT NULL DEFAULT 1 CHECK (live_generation >= 1)
);
