-- name: list_after(chat_id, user_id, after, limit)^
-- Whether user_id takes part in the chat, and if so its oldest messages newer than
-- seq `after`, oldest first, in one round trip.
WITH a AS MATERIALIZED (
    SELECT EXISTS (
        SELECT FROM chat_participant p WHERE p.chat_sesh_id = :chat_id AND p.user_id = :user_id
    ) AS allowed)
SELECT a.allowed, CASE WHEN a.allowed THEN ARRAY(
    SELECT m.api_json::text
    FROM message m
    WHERE m.chat_sesh_id = :chat_id AND m.seq > :after
    ORDER BY m.seq
    LIMIT :limit) END AS page
FROM a;
