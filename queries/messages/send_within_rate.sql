-- name: send_within_rate(rate_key, burst, period_seconds, chat_id, sender_id, body, client_id, reply_to)^
-- send, spending a unit of the sender's rate limit (take_rate) first, in the same round
-- trip (send_message_within_rate in schema.sql): wait, the seconds until a unit is back
-- when none is left (then nothing is sent), else 0 and what send answers.
SELECT wait, outcome, message::text AS message, stranger
FROM send_message_within_rate(
    :rate_key, :burst, make_interval(secs => :period_seconds),
    :chat_id, :sender_id, :body, :client_id, :reply_to);
