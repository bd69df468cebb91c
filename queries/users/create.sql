-- name: create(username, display_name, password_hash)^
-- Register a user; app_user_username_key rejects a name taken in any case.
INSERT INTO app_user AS u (username, display_name, password_hash)
VALUES (:username, :display_name, :password_hash)
RETURNING u.id, user_json(u) AS json;
