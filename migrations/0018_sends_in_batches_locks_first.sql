-- Sends to one chat go in batches, one statement and one commit for each
-- (send_messages(), which now holds what send_message() did; send_message() sends one
-- through it), and the rate limit is spent after the chat's locks are taken:
-- send_message_within_rate() spent it first, a write that gave the transaction its id
-- before it waited for the chat's lock, so that two senders' events could come out of
-- the chat's seq order. Nothing calls send_message_within_rate() any more.

DROP FUNCTION send_message_within_rate(
    text, integer, interval, bigint, bigint, text, text, bigint);

-- Sends to one chat, in one round trip and one commit (chaat.messages.Sends batches
-- those that arrive while the chat's last batch is on its way): checks, seq, message
-- and its event for each, answered in order. outcome is sent, repeated (a retried
-- client_id), client_id_conflict, bad_reply_to, not_found or not_friends (stranger:
-- the other side's username). A send with a rate key first spends a unit of its
-- sender's rate limit: wait as take_rate() answers it, and when it is above 0 nothing
-- is sent (no outcome).
CREATE FUNCTION send_messages(
    p_chat_id bigint, p_sender_ids bigint[], p_bodies text[], p_client_ids text[],
    p_reply_tos bigint[], p_rate_keys text[], p_bursts integer[],
    p_periods double precision[])
RETURNS TABLE (wait double precision, outcome text, message json, stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c chat_sesh;
    m message;
    sender app_user;
BEGIN
    -- Locks before any write, a rate limit's included, so that the transaction's id
    -- (and its events') follows the chat's seq; the pair's before the chat's (see
    -- chaat/access.py). The pair's lock, as unfriending takes it: no send to a direct
    -- chat slips past one.
    SELECT * INTO c FROM chat_sesh WHERE id = p_chat_id;
    IF c.kind = 'direct' THEN
        PERFORM pg_advisory_xact_lock(pair_lock_key(c.direct_low, c.direct_high));
    END IF;
    PERFORM pg_advisory_xact_lock(chat_lock_key(p_chat_id));
    FOR i IN 1 .. cardinality(p_sender_ids) LOOP
        wait := 0;
        outcome := NULL;
        message := NULL;
        stranger := NULL;
        IF p_rate_keys[i] IS NOT NULL THEN
            wait := take_rate(p_rate_keys[i], p_bursts[i], make_interval(secs => p_periods[i]));
        END IF;
        IF wait > 0 THEN
            NULL;
        ELSIF c.id IS NULL OR NOT EXISTS (
            SELECT FROM chat_participant
            WHERE chat_sesh_id = p_chat_id AND user_id = p_sender_ids[i]
        ) THEN
            outcome := 'not_found';
        ELSE
            SELECT * INTO outcome, stranger FROM direct_chat_refusal(c, p_sender_ids[i]);
        END IF;
        IF wait > 0 OR outcome IS NOT NULL THEN
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO sender FROM app_user WHERE id = p_sender_ids[i];
        m := NULL;
        IF p_client_ids[i] IS NOT NULL THEN
            SELECT * INTO m FROM message
            WHERE chat_sesh_id = p_chat_id AND sender_id = sender.id
              AND client_id = p_client_ids[i];
        END IF;
        IF m.id IS NOT NULL THEN
            outcome := CASE WHEN m.sent_digest = sent_digest(p_bodies[i], p_reply_tos[i])
                            THEN 'repeated' ELSE 'client_id_conflict' END;
            message := message_json(m, sender);
        ELSIF p_reply_tos[i] IS NOT NULL AND NOT EXISTS (
            SELECT FROM message WHERE chat_sesh_id = p_chat_id AND seq = p_reply_tos[i]
        ) THEN
            outcome := 'bad_reply_to';
        ELSE
            UPDATE chat_sesh SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
            WHERE id = p_chat_id
            RETURNING last_seq INTO c.last_seq;
            -- A sender who had read everything has read their own message too.
            UPDATE chat_participant SET last_read_seq = c.last_seq
            WHERE chat_sesh_id = p_chat_id AND user_id = sender.id
              AND last_read_seq = c.last_seq - 1;
            INSERT INTO message (
                chat_sesh_id, seq, sender_id, body, client_id, reply_to, sent_digest)
            VALUES (p_chat_id, c.last_seq, sender.id, p_bodies[i], p_client_ids[i],
                    p_reply_tos[i], CASE WHEN p_client_ids[i] IS NOT NULL
                                         THEN sent_digest(p_bodies[i], p_reply_tos[i]) END)
            RETURNING * INTO m;
            INSERT INTO event (chat_sesh_id, type, message_id)
            VALUES (p_chat_id, 'message.created', m.id);
            outcome := 'sent';
            message := message_json(m, sender);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- One send, in the caller's transaction (a chat created with its first message, a
-- send to a user): send_messages() with one message and no rate limit.
CREATE OR REPLACE FUNCTION send_message(
    p_chat_id bigint, p_sender_id bigint, p_body text, p_client_id text, p_reply_to bigint,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE sql VOLATILE
AS $$
    SELECT s.outcome, s.message, s.stranger
    FROM send_messages(p_chat_id, ARRAY[p_sender_id], ARRAY[p_body], ARRAY[p_client_id],
                       ARRAY[p_reply_to], NULL, NULL, NULL) AS s
$$;
