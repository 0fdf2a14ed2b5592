-- Read model `catalog` keeps who is registered, no longer their names: the reads join
-- participant_details (0040) when they answer, so an erasure shows at once and no copy of a
-- name outlives it in a read model (or in an old generation waiting to be deleted).
ALTER TABLE rm_participants DROP COLUMN name;
