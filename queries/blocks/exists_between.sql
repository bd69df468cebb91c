-- name: exists_between(user_a, user_b)$
-- Whether either of two users blocks the other.
SELECT EXISTS (
    SELECT FROM user_block
    WHERE (blocker_id, blocked_id) IN ((:user_a, :user_b), (:user_b, :user_a)));
