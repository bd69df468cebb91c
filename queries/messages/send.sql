-- name: send(chat_id, sender_id, body, client_id, reply_to)^
-- Send a message in one round trip (send_message in schema.sql), in the caller's
-- transaction: its outcome, the message (as JSON text), and for not_friends the other
-- side's username.
SELECT outcome, message::text AS message, stranger
FROM send_message(:chat_id, :sender_id, :body, :client_id, :reply_to);
