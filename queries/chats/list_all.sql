-- name: list_all(viewer_id, with_user_id)
-- Every chat on the server, for an administrator, most recent activity first.
SELECT chat_json(c, :viewer_id)::text AS json
FROM chat_sesh c
WHERE :with_user_id::bigint IS NULL OR EXISTS (
        SELECT FROM chat_participant w
        WHERE w.chat_sesh_id = c.id AND w.user_id = :with_user_id)
ORDER BY c.last_activity_at DESC, c.id DESC;
