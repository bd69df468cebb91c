-- name: list_since(after, before, user_ids, limit)
-- The events after id `after` and below `before` (settled), for the dispatcher:
-- each with those of user_ids (the users connected to this process) it is meant for,
-- and its data only when it is meant for one of them.
WITH batch AS (
    SELECT b.*,
           CASE WHEN b.user_id IS NOT NULL THEN
               CASE WHEN b.user_id = ANY(:user_ids::bigint[]) THEN ARRAY[b.user_id] ELSE '{}' END
           ELSE ARRAY(
               SELECT cm.user_id FROM chat_membership cm
               WHERE cm.chat_sesh_id = b.chat_sesh_id
                 AND cm.user_id = ANY(:user_ids::bigint[])
                 AND cm.from_event_id <= b.id
                 AND (cm.until_event_id IS NULL OR cm.until_event_id >= b.id))
           END AS recipients
    FROM event b
    WHERE b.id > :after AND b.id < :before
    ORDER BY b.id
    LIMIT :limit)
SELECT b.id, b.type, coalesce(b.data, message_json(m, s))::text AS data, b.recipients
FROM batch b
LEFT JOIN message m ON m.id = b.message_id AND b.recipients <> '{}'
LEFT JOIN app_user s ON s.id = m.sender_id
ORDER BY b.id;
