-- name: delete(chat_id, seq, user_id)$
-- Delete a message, leaving its tombstone, in one round trip (delete_message in
-- schema.sql): deleted, unchanged, not_found or forbidden.
SELECT delete_message(:chat_id, :seq, :user_id);
