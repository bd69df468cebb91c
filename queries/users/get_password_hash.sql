-- name: get_password_hash(id)$
-- The hash to check an old password against, locked until the change commits.
SELECT password_hash FROM app_user WHERE id = :id FOR NO KEY UPDATE;
