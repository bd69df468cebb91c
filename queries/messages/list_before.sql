-- name: list_before(chat_id, before, limit)
-- The newest messages older than seq `before`, newest first: a backward range
-- scan of message_chat_seq that reads `limit` rows whatever the chat's size.
SELECT message_json(m)::text AS json
FROM message m
WHERE m.chat_sesh_id = :chat_id AND m.seq < :before
ORDER BY m.seq DESC
LIMIT :limit;
