-- A send within the sender's rate limit is one round trip: spending the unit and
-- sending, in one statement (it was two: take_rate() from the middleware, then
-- send_message()).

-- A send that first spends a unit of the sender's rate limit, in the same round trip:
-- wait as take_rate() answers it, and when it is above 0 nothing is sent (no outcome).
CREATE FUNCTION send_message_within_rate(
    p_rate_key text, p_burst integer, p_period interval,
    p_chat_id bigint, p_sender_id bigint, p_body text, p_client_id text, p_reply_to bigint,
    OUT wait double precision, OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    wait := take_rate(p_rate_key, p_burst, p_period);
    IF wait = 0 THEN
        SELECT * INTO outcome, message, stranger
        FROM send_message(p_chat_id, p_sender_id, p_body, p_client_id, p_reply_to);
    END IF;
END
$$;
