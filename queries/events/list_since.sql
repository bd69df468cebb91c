-- name: list_since(after, user_ids, limit)
-- The next events after id `after`, for the dispatcher: each with those of
-- user_ids (the users connected to this process) it is meant for.
WITH batch AS (
    SELECT * FROM event WHERE id > :after ORDER BY id LIMIT :limit)
SELECT b.id, b.type, b.data::text AS data,
       CASE WHEN b.user_id IS NOT NULL THEN
           CASE WHEN b.user_id = ANY(:user_ids::bigint[]) THEN ARRAY[b.user_id] ELSE '{}' END
       ELSE ARRAY(
           SELECT m.user_id FROM chat_membership m
           WHERE m.chat_sesh_id = b.chat_sesh_id
             AND m.user_id = ANY(:user_ids::bigint[])
             AND m.from_event_id <= b.id
             AND (m.until_event_id IS NULL OR m.until_event_id >= b.id))
       END AS recipients
FROM batch b
ORDER BY b.id;
