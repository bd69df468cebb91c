-- name: create(user_id, ttl_seconds)^
-- A new session for a user; the signed token only carries this row's id.
INSERT INTO auth_token (user_id, expires_at)
VALUES (:user_id, now() + make_interval(secs => :ttl_seconds))
RETURNING id, rfc3339(expires_at) AS expires_at;
