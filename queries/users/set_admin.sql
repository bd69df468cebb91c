-- name: set_admin(username, is_admin)$
-- Promote or demote; answers the user's id, or null when there is no such user.
UPDATE app_user SET is_admin = :is_admin
WHERE lower(username) = lower(:username)
RETURNING id;
