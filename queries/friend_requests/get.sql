-- name: get(id)^
-- A request's two sides and status; who may act on it depends on them.
SELECT r.id, r.from_user_id, r.to_user_id, r.status
FROM friend_request r
WHERE r.id = :id;
