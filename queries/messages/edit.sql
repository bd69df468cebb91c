-- name: edit(chat_id, seq, user_id, body)^
-- Edit a message in one round trip (edit_message in schema.sql): its outcome, the
-- message as JSON text, and for not_friends the other side's username.
SELECT outcome, message::text AS message, stranger
FROM edit_message(:chat_id, :seq, :user_id, :body);
