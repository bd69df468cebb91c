-- name: get_credentials(username)^
-- What login needs to check a password; nothing else ever reads password_hash.
SELECT u.id, u.password_hash, user_json(u) AS json
FROM app_user u
WHERE lower(u.username) = lower(:username);
