-- name: get_pending(from_user_id, to_user_id)^
-- The pending request from one user to another, if any.
SELECT r.id, friend_request_json(r) AS json
FROM friend_request r
WHERE r.from_user_id = :from_user_id AND r.to_user_id = :to_user_id AND r.status = 'pending';
