-- name: respond(id, status)^
-- Accept or reject a pending request.
UPDATE friend_request AS r SET status = :status, responded_at = now()
WHERE r.id = :id AND r.status = 'pending'
RETURNING r.id, r.from_user_id, r.to_user_id, friend_request_json(r) AS json;
