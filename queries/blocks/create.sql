-- name: create(blocker_id, blocked_id)$
-- Block someone; answers whether the block is new (blocking again changes nothing).
WITH made AS (
    INSERT INTO user_block (blocker_id, blocked_id) VALUES (:blocker_id, :blocked_id)
    ON CONFLICT DO NOTHING
    RETURNING 1)
SELECT EXISTS (SELECT FROM made);
