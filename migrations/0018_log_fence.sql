-- log_fence(): the transaction id below which every append to THIS database's log has finished.
--
-- Until now readers used pg_snapshot_xmin(pg_current_snapshot()): the oldest transaction still
-- running anywhere in the cluster. Transaction ids are cluster-wide, so any long writing
-- transaction, in any database of the server (a bulk import, a migration elsewhere), held every
-- reader of this log back: projections stopped, `?after=` waited and answered 503. Measured on a
-- shared development server while a COPY of 1,000,000 rows ran in another database.
--
-- Now each append marks itself: right after taking its transaction id, inside the position
-- critical section, append_events (0020) takes a transaction-level advisory lock whose bigint key
-- is that id. The fence is the smallest such id still held in this database, or, when none is,
-- the xmax of a snapshot taken now (no transaction that starts later can have a smaller id).
--
-- Why that is exact (0004's header has the order argument): ids and positions are drawn together
-- in the critical section, so position order = id order among appends. An append whose lock this
-- call does not see either finished before it (then a snapshot taken afterwards sees its events),
-- or had not taken its id yet (its id will be >= the xmax taken here), or was between taking its
-- id and its lock, still inside the critical section: then no append can have drawn a larger
-- position yet, so nothing readable lies beyond its positions. Readers must compute the fence
-- BEFORE the snapshot they read events with (read_log, 0019, does).
-- Other bigint advisory locks in this database can only lower the fence: slower, never wrong.
CREATE FUNCTION log_fence() RETURNS xid8
LANGUAGE sql VOLATILE
AS $$
SELECT least(
    pg_snapshot_xmax(pg_current_snapshot()),
    (SELECT (min((l.classid::bigint << 32) | l.objid::bigint))::text::xid8
       FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
        AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())))
$$;
