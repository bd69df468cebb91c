-- name: create(code_hash, uses, expires_in, created_by)^
-- A new invite code (its hash): how many uses it has and until when.
INSERT INTO invite (code_hash, uses_left, expires_at, created_by)
VALUES (:code_hash, :uses, now() + make_interval(secs => :expires_in), :created_by)
RETURNING uses_left, rfc3339(expires_at) AS expires_at;
