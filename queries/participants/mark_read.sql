-- name: mark_read(chat_id, user_id, seq)$
-- Move a read marker forward, never back and never past the chat's last message, and
-- tell the chat (mark_read in schema.sql): moved, unchanged or not_found.
SELECT mark_read(:chat_id, :user_id, :seq);
