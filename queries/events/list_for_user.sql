-- name: list_for_user(user_id, after, through, limit)
-- The events one user missed after id `after`, up to `through` (settled), oldest
-- first, for a resuming client: their own events, and their chats' events while
-- they were in them.
SELECT missed.id, missed.type, coalesce(missed.data, m.api_json)::text AS data FROM (
    (SELECT e.id, e.type, e.data, e.message_id FROM event e
     WHERE e.user_id = :user_id AND e.id > :after AND e.id <= :through
     ORDER BY e.id LIMIT :limit)
    UNION ALL
    (SELECT e.id, e.type, e.data, e.message_id
     FROM chat_membership cm
     CROSS JOIN LATERAL (
         SELECT e.id, e.type, e.data, e.message_id FROM event e
         WHERE e.chat_sesh_id = cm.chat_sesh_id
           AND e.id > greatest(:after, cm.from_event_id - 1)
           AND e.id <= least(:through, cm.until_event_id)
         ORDER BY e.id LIMIT :limit) e
     WHERE cm.user_id = :user_id
       AND (cm.until_event_id IS NULL OR cm.until_event_id > :after))
) missed
LEFT JOIN message m ON m.id = missed.message_id
ORDER BY missed.id
LIMIT :limit;
