-- name: list_before(chat_id, user_id, before, limit)^
-- Whether user_id takes part in the chat, and if so its newest messages older than seq
-- `before`, newest first, in one round trip: a backward range scan of
-- message_chat_seq that reads `limit` rows whatever the chat's size.
WITH a AS MATERIALIZED (
    SELECT EXISTS (
        SELECT FROM chat_participant p WHERE p.chat_sesh_id = :chat_id AND p.user_id = :user_id
    ) AS allowed)
SELECT a.allowed, CASE WHEN a.allowed THEN ARRAY(
    SELECT m.api_json::text
    FROM message m
    WHERE m.chat_sesh_id = :chat_id AND m.seq < :before
    ORDER BY m.seq DESC
    LIMIT :limit) END AS page
FROM a;
