-- name: delete(blocker_id, blocked_id)$
-- Unblock; answers whether there was a block.
WITH gone AS (
    DELETE FROM user_block WHERE blocker_id = :blocker_id AND blocked_id = :blocked_id
    RETURNING 1)
SELECT EXISTS (SELECT FROM gone);
