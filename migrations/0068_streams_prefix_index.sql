-- Lists of streams under a prefix (`EventStore.stream_ids`: every `event-` stream, which the
-- reconciler asks for in each worker every few seconds, handlers/upkeep.py) need an index that
-- LIKE 'prefix%' can use. The primary key cannot: its collation is the database's (C.UTF-8 on
-- Debian's servers), and PostgreSQL turns LIKE into an index range only under the C collation
-- or text_pattern_ops (https://www.postgresql.org/docs/15/indexes-opclass.html). Without it
-- every call read the whole of `streams`, one row per participant ever registered: 161 ms and
-- 51,000 buffers a call over a log of 1,400,000 events with 198,000 participants (growth log
-- pair, bench/README.md), on every worker every interval, against 7 ms over an empty log.
CREATE INDEX streams_stream_id_prefix ON streams (stream_id text_pattern_ops);
