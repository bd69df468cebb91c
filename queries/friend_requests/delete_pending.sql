-- name: delete_pending(id)$
-- Withdraw a request; answers whether it was still pending (and so is gone).
WITH gone AS (DELETE FROM friend_request WHERE id = :id AND status = 'pending' RETURNING 1)
SELECT EXISTS (SELECT FROM gone);
