-- name: get_typing_audience(chat_id, user_id)^
-- Who hears that user_id is typing in a chat they take part in (the others), and
-- whether they may write there (outcome: blocked or not_friends in a direct chat,
-- with the other side's username). No row: no such chat, or not theirs.
SELECT r.outcome, r.stranger,
       ARRAY(SELECT p.user_id FROM chat_participant p
             WHERE p.chat_sesh_id = c.id AND p.user_id <> :user_id
             ORDER BY p.user_id) AS audience
FROM chat_sesh c
JOIN chat_participant me ON me.chat_sesh_id = c.id AND me.user_id = :user_id
CROSS JOIN LATERAL direct_chat_refusal(c, :user_id) AS r
WHERE c.id = :chat_id;
