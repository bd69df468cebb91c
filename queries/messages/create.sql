-- name: create(chat_id, sender_id, body, client_id)^
-- Append a message; seq comes from the chat row, which also serialises senders,
-- so seqs are 1, 2, 3... in commit order with no gaps.
WITH c AS (
    UPDATE chat_sesh SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
    WHERE id = :chat_id
    RETURNING last_seq)
INSERT INTO message AS m (chat_sesh_id, seq, sender_id, body, client_id)
SELECT :chat_id, c.last_seq, :sender_id, :body, :client_id FROM c
RETURNING m.id, m.seq, message_json(m) AS json;
