-- Each message keeps its JSON, as the API shows it, in message.api_json: written by a
-- trigger at every change of the message, read by every reader (history pages, events,
-- search, a chat's last message) instead of building it and looking up the sender on
-- every read. Existing messages get theirs here, in one pass over the table.

ALTER TABLE message ADD COLUMN api_json json;
UPDATE message m SET api_json = message_json(m, s) FROM app_user s WHERE s.id = m.sender_id;
ALTER TABLE message ALTER COLUMN api_json SET NOT NULL;

-- message.api_json, made again whatever changes the message, and whoever changes it.
-- A sender that does not exist is left to the foreign key to refuse. (A join: the
-- sender as a scalar subquery instead made each send cost PostgreSQL a quarter more.)
CREATE FUNCTION message_api_json() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    SELECT message_json(NEW, u) INTO NEW.api_json
    FROM (SELECT) AS one LEFT JOIN app_user u ON u.id = NEW.sender_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER message_api_json BEFORE INSERT OR UPDATE ON message
FOR EACH ROW EXECUTE FUNCTION message_api_json();

-- The API never renames a user; an operator who does it in SQL renames their messages too.
CREATE FUNCTION sender_renamed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE message SET api_json = NULL WHERE sender_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sender_renamed AFTER UPDATE OF username ON app_user
FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
EXECUTE FUNCTION sender_renamed();

-- The functions that read messages, or return the one they wrote, read api_json.

CREATE OR REPLACE FUNCTION chat_json(c chat_sesh, viewer_id bigint) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'id', c.id, 'kind', c.kind, 'name', c.name, 'created_by', c.created_by,
            'created_at', rfc3339(c.created_at),
            'participants', (SELECT coalesce(json_agg(user_json(u) ORDER BY u.id), '[]')
                             FROM chat_participant p JOIN app_user u ON u.id = p.user_id
                             WHERE p.chat_sesh_id = c.id),
            'last_message', (SELECT m.api_json FROM message m
                             WHERE m.chat_sesh_id = c.id AND m.seq = c.last_seq
                               AND (viewer_id IS NULL OR me.user_id IS NOT NULL)),
            'unread_count', coalesce((SELECT count(*) FROM message m
                                      WHERE m.chat_sesh_id = c.id AND m.seq > me.last_read_seq
                                        AND m.sender_id <> viewer_id), 0))
        FROM (SELECT NULL) AS dummy
        LEFT JOIN chat_participant me ON me.chat_sesh_id = c.id AND me.user_id = viewer_id);
END
$$;

CREATE OR REPLACE FUNCTION search_messages(
    p_user_id bigint, p_chat_id bigint, p_q text, p_before bigint, p_limit integer)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY EXECUTE $search$
        WITH query AS MATERIALIZED (
            SELECT to_tsquery('simple', string_agg(word || ':*', ' & ')) AS words
            FROM regexp_split_to_table(regexp_replace($3, '[^[:alnum:]]+', ' ', 'g'), ' ')
                 AS word
            WHERE word <> ''),
        page AS (
            SELECT m.id
            FROM message m CROSS JOIN query
            WHERE m.body_words @@ query.words
              AND m.chat_sesh_id IN (
                  SELECT p.chat_sesh_id FROM chat_participant p
                  WHERE p.user_id = $1 AND ($2::bigint IS NULL OR p.chat_sesh_id = $2))
              AND m.id < $4
            -- + 0: through the words index, not backwards along the primary key.
            ORDER BY m.id + 0 DESC
            LIMIT $5)
        SELECT m.api_json::text
        FROM page
        JOIN message m ON m.id = page.id
        ORDER BY m.id DESC
    $search$ USING p_user_id, p_chat_id, p_q, p_before, p_limit;
END
$$;

CREATE OR REPLACE FUNCTION send_messages(
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
        SELECT p.user_id IS NOT NULL AS participates, r.outcome, r.stranger
        INTO checked
        FROM (SELECT) AS one
        LEFT JOIN chat_participant p ON p.chat_sesh_id = c.id AND p.user_id = p_sender_ids[i]
        LEFT JOIN LATERAL direct_chat_refusal(c, p_sender_ids[i]) AS r ON true;
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
        message := m.api_json;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION edit_message(
    p_chat_id bigint, p_seq bigint, p_user_id bigint, p_body text,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    locked record;
    c chat_sesh;
    m message;
BEGIN
    locked := lock_message(p_chat_id, p_seq, p_user_id, true);
    IF locked.outcome IS NOT NULL THEN
        outcome := locked.outcome;
        RETURN;
    END IF;
    c := locked.c;
    m := locked.m;
    IF m.sender_id <> p_user_id THEN
        outcome := 'forbidden';
        RETURN;
    END IF;
    SELECT * INTO outcome, stranger FROM direct_chat_refusal(c, p_user_id);
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    IF m.deleted_at IS NOT NULL THEN
        outcome := 'message_deleted';
        RETURN;
    END IF;
    UPDATE message SET body = p_body, edited_at = clock_timestamp()
    WHERE id = m.id
    RETURNING * INTO m;
    INSERT INTO event (chat_sesh_id, type, message_id) VALUES (p_chat_id, 'message.updated', m.id);
    outcome := 'edited';
    message := m.api_json;
END
$$;

CREATE OR REPLACE FUNCTION set_reaction(
    p_chat_id bigint, p_seq bigint, p_user_id bigint, p_emoji text, p_add boolean,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    locked record;
    c chat_sesh;
    m message;
    free_slot smallint;
BEGIN
    locked := lock_message(p_chat_id, p_seq, p_user_id, p_add);
    IF locked.outcome IS NOT NULL THEN
        outcome := locked.outcome;
        RETURN;
    END IF;
    c := locked.c;
    m := locked.m;
    IF p_add THEN
        SELECT * INTO outcome, stranger FROM direct_chat_refusal(c, p_user_id);
        IF outcome IS NOT NULL THEN
            RETURN;
        END IF;
        IF m.deleted_at IS NOT NULL THEN
            outcome := 'message_deleted';
        ELSIF EXISTS (
            SELECT FROM reaction
            WHERE message_id = m.id AND emoji = p_emoji AND user_id = p_user_id
        ) THEN
            outcome := 'unchanged';
        ELSIF NOT EXISTS (SELECT FROM message_emoji WHERE message_id = m.id AND emoji = p_emoji)
        THEN
            SELECT min(s) INTO free_slot FROM generate_series(1, 20) AS s
            WHERE s NOT IN (SELECT slot FROM message_emoji WHERE message_id = m.id);
            IF free_slot IS NULL THEN
                outcome := 'too_many_reactions';
            ELSE
                INSERT INTO message_emoji (message_id, emoji, slot)
                VALUES (m.id, p_emoji, free_slot);
            END IF;
        END IF;
        IF outcome IS NULL THEN
            INSERT INTO reaction (message_id, emoji, user_id) VALUES (m.id, p_emoji, p_user_id);
        END IF;
    ELSE
        DELETE FROM reaction WHERE message_id = m.id AND emoji = p_emoji AND user_id = p_user_id;
        IF NOT FOUND THEN
            outcome := 'unchanged';
        ELSE
            DELETE FROM message_emoji e
            WHERE e.message_id = m.id AND e.emoji = p_emoji
              AND NOT EXISTS (SELECT FROM reaction r WHERE r.message_id = m.id AND r.emoji = p_emoji);
        END IF;
    END IF;
    IF outcome = 'message_deleted' OR outcome = 'too_many_reactions' THEN
        RETURN;
    END IF;
    IF outcome IS NULL THEN
        UPDATE message SET reactions = reactions_json(m.id) WHERE id = m.id RETURNING * INTO m;
        INSERT INTO event (chat_sesh_id, type, message_id)
        VALUES (p_chat_id, 'message.updated', m.id);
        outcome := 'changed';
    END IF;
    message := m.api_json;
END
$$;
