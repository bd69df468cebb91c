-- name: send_many(chat_ids, sender_ids, bodies, client_ids, reply_tos, rate_keys, bursts, period_seconds)
-- Sends, to one chat or several, in one round trip and one commit (send_messages in
-- schema.sql; a chat's sends next to each other), one row for each, in order: wait (> 0:
-- the seconds until the sender's rate limit has a unit again, and nothing was sent),
-- outcome, the message as JSON text, and for not_friends the other side's username. A
-- null rate key spends no limit.
SELECT wait, outcome, message::text AS message, stranger
FROM send_messages(
    :chat_ids, :sender_ids, :bodies, :client_ids, :reply_tos, :rate_keys, :bursts,
    :period_seconds);
