-- The auditors' log of one organisation (GET /v1/audit/log): its events in position order, paged
-- by position. Every stream id is `<category>-<organisation>:<rest>` (src/registry/domain/
-- streams.py); categories hold no '-' and organisation slugs no ':', so the organisation is what
-- lies between the first '-' and the next ':'. An index on that expression and the position
-- answers a page with a range scan instead of filtering the whole log (most of which, on a shared
-- deployment, belongs to other organisations). Cost: one more index entry per appended event.
CREATE FUNCTION stream_organisation(p_stream_id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN split_part(substr(p_stream_id, strpos(p_stream_id, '-') + 1), ':', 1);

CREATE INDEX events_organisation_position ON events (stream_organisation(stream_id), "position");
