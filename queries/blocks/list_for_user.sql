-- name: list_for_user(user_id)
-- The users someone blocks, newest first.
SELECT user_json(u) AS user, rfc3339(b.since) AS since
FROM user_block b
JOIN app_user u ON u.id = b.blocked_id
WHERE b.blocker_id = :user_id
ORDER BY b.since DESC, b.blocked_id DESC;
