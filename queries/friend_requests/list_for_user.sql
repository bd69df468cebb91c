-- name: list_for_user(user_id, status, incoming, outgoing)
-- A user's requests, newest first; a null status means any.
SELECT friend_request_json(r) AS json
FROM friend_request r
WHERE ((:incoming AND r.to_user_id = :user_id) OR (:outgoing AND r.from_user_id = :user_id))
  AND (:status::text IS NULL OR r.status = :status)
ORDER BY r.id DESC;
