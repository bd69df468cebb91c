-- Sends to different chats go in one batch too: send_messages() takes each send's chat
-- (p_chat_ids) instead of one chat for the batch, and takes every lock of the batch
-- first, in one order; it checks who may write in one statement and writes the seq,
-- read marker, message and event in another. send_message() sends through it.

-- Sends, to one chat or several, in one round trip and one commit (chaat.messages.Sends
-- batches those that arrive while earlier batches are on their way): checks, seq,
-- message and its event for each, answered in order; a chat's sends come next to each
-- other. outcome is sent, repeated (a retried client_id), client_id_conflict,
-- bad_reply_to, not_found, blocked or not_friends (stranger: the other side's
-- username). A send with a rate key first spends a unit of its sender's rate limit:
-- wait as take_rate() answers it, and when it is above 0 nothing is sent (no outcome).
CREATE FUNCTION send_messages(
    p_chat_ids bigint[], p_sender_ids bigint[], p_bodies text[], p_client_ids text[],
    p_reply_tos bigint[], p_rate_keys text[], p_bursts integer[],
    p_periods double precision[])
RETURNS TABLE (wait double precision, outcome text, message json, stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c chat_sesh;
    m message;
    checked record;
BEGIN
    -- Every lock before any write, a rate limit's included, so that the transaction's
    -- id (and its events') follows each chat's seq. A direct chat's pair's lock comes
    -- before its chat's, as unfriending takes it: no send to a direct chat slips past
    -- one. Several chats' locks come in the one order that every transaction keeps
    -- (chaat/access.py): groups', then pairs', then direct chats', each kind by key.
    IF p_chat_ids[1] = p_chat_ids[cardinality(p_chat_ids)] THEN
        SELECT * INTO c FROM chat_sesh WHERE id = p_chat_ids[1];
        IF c.kind = 'direct' THEN
            PERFORM pg_advisory_xact_lock(pair_lock_key(c.direct_low, c.direct_high));
        END IF;
        PERFORM pg_advisory_xact_lock(chat_lock_key(p_chat_ids[1]));
    ELSE
        PERFORM pg_advisory_xact_lock(lock.key)
        FROM (SELECT DISTINCT l.rank, l.key
              FROM chat_sesh s,
                   LATERAL (VALUES (1, CASE s.kind WHEN 'group' THEN chat_lock_key(s.id) END),
                                   (2, pair_lock_key(s.direct_low, s.direct_high)),
                                   (3, CASE s.kind WHEN 'direct' THEN chat_lock_key(s.id) END))
                       AS l (rank, key)
              WHERE s.id = ANY (p_chat_ids) AND l.key IS NOT NULL
              ORDER BY l.rank, l.key) AS lock;
    END IF;
    -- Two senders' limits, spent in one order by every batch: none waits for the other.
    IF cardinality(array_remove(p_rate_keys, NULL)) > 1 THEN
        PERFORM FROM rate_limit WHERE key = ANY (p_rate_keys) ORDER BY key FOR UPDATE;
    END IF;
    FOR i IN 1 .. cardinality(p_chat_ids) LOOP
        wait := 0;
        outcome := NULL;
        message := NULL;
        stranger := NULL;
        IF c.id IS DISTINCT FROM p_chat_ids[i] THEN
            SELECT * INTO c FROM chat_sesh WHERE id = p_chat_ids[i];
        END IF;
        IF p_rate_keys[i] IS NOT NULL THEN
            wait := take_rate(p_rate_keys[i], p_bursts[i], make_interval(secs => p_periods[i]));
            IF wait > 0 THEN
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        -- Who may write, in one statement: a participant, who in a direct chat must
        -- still be the other's friend, and not blocked.
        SELECT u AS sender, p.user_id IS NOT NULL AS participates, r.outcome, r.stranger
        INTO checked
        FROM (SELECT) AS one
        LEFT JOIN app_user u ON u.id = p_sender_ids[i]
        LEFT JOIN chat_participant p ON p.chat_sesh_id = c.id AND p.user_id = u.id
        LEFT JOIN LATERAL direct_chat_refusal(c, u.id) AS r ON true;
        IF NOT checked.participates THEN
            outcome := 'not_found';
        ELSIF checked.outcome IS NOT NULL THEN
            outcome := checked.outcome;
            stranger := checked.stranger;
        END IF;
        IF outcome IS NOT NULL THEN
            RETURN NEXT;
            CONTINUE;
        END IF;
        m := NULL;
        IF p_client_ids[i] IS NOT NULL THEN
            SELECT * INTO m FROM message
            WHERE chat_sesh_id = c.id AND sender_id = p_sender_ids[i]
              AND client_id = p_client_ids[i];
        END IF;
        IF m.id IS NOT NULL THEN
            outcome := CASE WHEN m.sent_digest = sent_digest(p_bodies[i], p_reply_tos[i])
                            THEN 'repeated' ELSE 'client_id_conflict' END;
        ELSIF p_reply_tos[i] IS NOT NULL AND NOT EXISTS (
            SELECT FROM message WHERE chat_sesh_id = c.id AND seq = p_reply_tos[i]
        ) THEN
            outcome := 'bad_reply_to';
        ELSE
            -- One statement for the writes: the seq, the sender's read marker (one who
            -- had read everything has read their own message too), message, event.
            WITH numbered AS (
                UPDATE chat_sesh SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
                WHERE id = c.id
                RETURNING last_seq),
            read AS (
                UPDATE chat_participant p SET last_read_seq = numbered.last_seq
                FROM numbered
                WHERE p.chat_sesh_id = c.id AND p.user_id = p_sender_ids[i]
                  AND p.last_read_seq = numbered.last_seq - 1),
            sent AS (
                INSERT INTO message (
                    chat_sesh_id, seq, sender_id, body, client_id, reply_to, sent_digest)
                SELECT c.id, numbered.last_seq, p_sender_ids[i], p_bodies[i], p_client_ids[i],
                       p_reply_tos[i], CASE WHEN p_client_ids[i] IS NOT NULL
                                            THEN sent_digest(p_bodies[i], p_reply_tos[i]) END
                FROM numbered
                RETURNING *),
            recorded AS (
                INSERT INTO event (chat_sesh_id, type, message_id)
                SELECT sent.chat_sesh_id, 'message.created', sent.id FROM sent)
            SELECT * INTO m FROM sent;
            outcome := 'sent';
        END IF;
        IF m.id IS NOT NULL THEN
            message := message_json(m, checked.sender);
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
    FROM send_messages(ARRAY[p_chat_id], ARRAY[p_sender_id], ARRAY[p_body],
                       ARRAY[p_client_id], ARRAY[p_reply_to], NULL, NULL, NULL) AS s
$$;

DROP FUNCTION send_messages(
    bigint, bigint[], text[], text[], bigint[], text[], integer[], double precision[]);
