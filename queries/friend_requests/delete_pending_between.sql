-- name: delete_pending_between(user_a, user_b)
-- Withdraw every pending request between two users, either way: each one's id and
-- recipient.
DELETE FROM friend_request
WHERE status = 'pending'
  AND (from_user_id, to_user_id) IN ((:user_a, :user_b), (:user_b, :user_a))
RETURNING id, to_user_id;
