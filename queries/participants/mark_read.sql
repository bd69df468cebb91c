-- name: mark_read(chat_id, user_id, seq)!
-- Move a read marker forward, never back, and never past the chat's last message.
UPDATE chat_participant p
SET last_read_seq = greatest(p.last_read_seq, least(:seq::bigint, c.last_seq))
FROM chat_sesh c
WHERE c.id = p.chat_sesh_id AND p.chat_sesh_id = :chat_id AND p.user_id = :user_id;
