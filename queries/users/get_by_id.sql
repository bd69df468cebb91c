-- name: get_by_id(id)^
-- One user by id.
SELECT u.id, u.username, user_json(u) AS json
FROM app_user u
WHERE u.id = :id;
