-- name: list_for_user(user_id, after, limit)
-- The events one user missed after id `after`, oldest first, for a resuming
-- client: their own events, and their chats' events while they were in them.
SELECT id, type, data::text AS data FROM (
    (SELECT e.id, e.type, e.data FROM event e
     WHERE e.user_id = :user_id AND e.id > :after
     ORDER BY e.id LIMIT :limit)
    UNION ALL
    (SELECT e.id, e.type, e.data
     FROM chat_membership m
     CROSS JOIN LATERAL (
         SELECT e.id, e.type, e.data FROM event e
         WHERE e.chat_sesh_id = m.chat_sesh_id
           AND e.id > greatest(:after, m.from_event_id - 1)
           AND (m.until_event_id IS NULL OR e.id <= m.until_event_id)
         ORDER BY e.id LIMIT :limit) e
     WHERE m.user_id = :user_id
       AND (m.until_event_id IS NULL OR m.until_event_id > :after))
) missed
ORDER BY id
LIMIT :limit;
