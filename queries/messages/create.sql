-- name: create(chat_id, sender_id, body, client_id)^
-- Append a message; seq comes from the chat row, which also serialises senders,
-- so seqs are 1, 2, 3... in commit order with no gaps. A sender who had read
-- everything has read their own message too: their marker follows, which keeps
-- unread counts (a scan from the marker on) short.
WITH c AS (
    UPDATE chat_sesh SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
    WHERE id = :chat_id
    RETURNING last_seq),
caught_up AS (
    UPDATE chat_participant p SET last_read_seq = c.last_seq
    FROM c
    WHERE p.chat_sesh_id = :chat_id AND p.user_id = :sender_id AND p.last_read_seq = c.last_seq - 1)
INSERT INTO message AS m (chat_sesh_id, seq, sender_id, body, client_id)
SELECT :chat_id, c.last_seq, :sender_id, :body, :client_id FROM c
RETURNING m.id, m.seq, message_json(m) AS json;
