-- name: delete(id)!
-- Revoke one token.
DELETE FROM auth_token WHERE id = :id;
