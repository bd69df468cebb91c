-- name: get(chat_id, seq, user_id)$
-- One message (a tombstone too) of a chat user_id takes part in, as JSON text; NULL
-- when there is no such message or the user does not take part.
SELECT m.api_json::text
FROM message m
WHERE m.chat_sesh_id = :chat_id AND m.seq = :seq
  AND EXISTS (
      SELECT FROM chat_participant p WHERE p.chat_sesh_id = :chat_id AND p.user_id = :user_id);
