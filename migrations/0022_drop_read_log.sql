-- read_log() (0019) is no longer used: it handed its rows over only once all were read, so the
-- client could not decode while the server read. PostgresEventStore.read_all takes log_fence()
-- in one statement and reads inline in the next, which keeps the same order guarantee (0018).
DROP FUNCTION read_log(bigint, integer);
