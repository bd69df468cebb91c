-- name: list_for_user(user_id)
-- A user's friends, by username.
SELECT user_json(u) AS user, rfc3339(f.since) AS since
FROM friendship f
JOIN app_user u ON u.id = CASE WHEN f.user_low = :user_id THEN f.user_high ELSE f.user_low END
WHERE f.user_low = :user_id OR f.user_high = :user_id
ORDER BY lower(u.username);
