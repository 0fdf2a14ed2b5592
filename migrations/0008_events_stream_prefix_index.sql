-- Reads of every stream under a prefix (all participant streams of one event, for the gate's
-- rebuild): LIKE 'prefix%' needs text_pattern_ops whatever the database's collation.
CREATE INDEX events_stream_id_prefix ON events (stream_id text_pattern_ops, stream_version);
