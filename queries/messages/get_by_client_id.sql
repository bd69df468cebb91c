-- name: get_by_client_id(chat_id, sender_id, client_id)^
-- The message a sender already stored with this client_id, for a retried send.
SELECT m.body, message_json(m) AS json
FROM message m
WHERE m.chat_sesh_id = :chat_id AND m.sender_id = :sender_id AND m.client_id = :client_id;
