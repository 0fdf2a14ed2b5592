-- The hash chain and the seals belong to the log (0035, 0036): like events, the service
-- (registry_app, 0030) reads them and adds to them, and never changes or removes a row. The
-- default privileges of 0032 gave it UPDATE and DELETE as on any new table; taken back here.
-- registry_maintenance may rewrite them, as it may the log: a repair that rewrites an event
-- must re-hash the chain from there (and publish a new seal).
REVOKE UPDATE, DELETE, TRUNCATE ON event_hashes, log_seals FROM registry_app;
GRANT SELECT, INSERT ON event_hashes, log_seals TO registry_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON event_hashes, log_seals TO registry_maintenance;
