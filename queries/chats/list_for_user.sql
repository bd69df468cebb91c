-- name: list_for_user(user_id, with_user_id)
-- A user's chats, most recent activity first; with_user_id (when not null) keeps
-- those that user is in too. One statement: no query per chat. The JSON comes
-- back as text, to go out as it is.
SELECT chat_json(c, :user_id)::text AS json
FROM chat_participant p
JOIN chat_sesh c ON c.id = p.chat_sesh_id
WHERE p.user_id = :user_id
  AND (:with_user_id::bigint IS NULL OR EXISTS (
        SELECT FROM chat_participant w
        WHERE w.chat_sesh_id = c.id AND w.user_id = :with_user_id))
ORDER BY c.last_activity_at DESC, c.id DESC;
