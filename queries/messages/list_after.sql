-- name: list_after(chat_id, after, limit)
-- The oldest messages newer than seq `after`, oldest first.
SELECT message_json(m)::text AS json
FROM message m
WHERE m.chat_sesh_id = :chat_id AND m.seq > :after
ORDER BY m.seq
LIMIT :limit;
