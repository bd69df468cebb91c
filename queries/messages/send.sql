-- name: send(rate_key, burst, period_seconds, chat_id, sender_id, body, client_id, reply_to)^
-- Send a message in one round trip (send_message_within_rate in schema.sql), spending a
-- unit of the sender's rate limit first unless rate_key is null: wait, the seconds until
-- a unit is back when none is left (then nothing is sent), else 0 and the outcome, the
-- message (as JSON text), and for not_friends the other side's username.
SELECT wait, outcome, message::text AS message, stranger
FROM send_message_within_rate(
    :rate_key, :burst, make_interval(secs => :period_seconds),
    :chat_id, :sender_id, :body, :client_id, :reply_to);
