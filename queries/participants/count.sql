-- name: count(chat_id)$
-- How many people are in a chat.
SELECT count(*) FROM chat_participant WHERE chat_sesh_id = :chat_id;
