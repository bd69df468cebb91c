-- name: send(chat_id, sender_id, body, client_id, reply_to)^
-- Send a message in one round trip (send_message in schema.sql): its outcome,
-- the message (as JSON text), and for not_friends the other side's username; wait is
-- always 0 (no rate limit spent here), as send_within_rate answers it.
SELECT 0::double precision AS wait, outcome, message::text AS message, stranger
FROM send_message(:chat_id, :sender_id, :body, :client_id, :reply_to);
