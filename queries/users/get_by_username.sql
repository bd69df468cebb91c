-- name: get_by_username(username)^
-- One user by name, in any case.
SELECT u.id, u.username, user_json(u) AS json
FROM app_user u
WHERE lower(u.username) = lower(:username);
