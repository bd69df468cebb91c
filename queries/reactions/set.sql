-- name: set(chat_id, seq, user_id, emoji, add)^
-- Add or remove the user's reaction in one round trip (set_reaction in schema.sql):
-- its outcome, the message as JSON text, and for not_friends the other side's username.
SELECT outcome, message::text AS message, stranger
FROM set_reaction(:chat_id, :seq, :user_id, :emoji, :add);
