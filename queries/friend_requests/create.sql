-- name: create(from_user_id, to_user_id)^
-- A new pending request.
INSERT INTO friend_request AS r (from_user_id, to_user_id)
VALUES (:from_user_id, :to_user_id)
RETURNING r.id, friend_request_json(r) AS json;
