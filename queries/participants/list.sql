-- name: list(chat_id)
-- A chat's participants, earliest first, with how far each has read.
SELECT user_json(u) AS user, rfc3339(p.joined_at) AS joined_at, p.last_read_seq
FROM chat_participant p
JOIN app_user u ON u.id = p.user_id
WHERE p.chat_sesh_id = :chat_id
ORDER BY p.joined_at, u.id;
