-- name: list(prefix, after, limit)
-- A page of users by id; prefix is a LIKE pattern already escaped by the caller.
SELECT user_json(u) AS json
FROM app_user u
WHERE lower(u.username) LIKE lower(:prefix) || '%'
  AND u.id > :after
ORDER BY u.id
LIMIT :limit;
