-- Contract 1.1's messages: replies (reply_to), edits (edited_at), deletions that leave
-- a tombstone in the message's place (deleted_at, no body), reactions, and chat.read
-- when a read marker moves. Each change is one statement (a function below) that
-- takes the chat's locks, checks who may do it, and records its event.

ALTER TABLE message
    ALTER COLUMN body DROP NOT NULL,
    ADD COLUMN reply_to bigint,
    ADD COLUMN edited_at timestamptz,
    ADD COLUMN deleted_at timestamptz,
    ADD COLUMN sent_digest bytea,
    ADD COLUMN reactions json NOT NULL DEFAULT '[]';

-- What a client_id retry is compared with: what was sent the first time, whatever
-- happened to the message since (an edit, a deletion).
CREATE FUNCTION sent_digest(body text, reply_to bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT sha256(convert_to(coalesce(reply_to::text, '') || ':' || body, 'UTF8')) $$;

-- Retries of messages sent before this version compare with their body.
UPDATE message SET sent_digest = sent_digest(body, NULL) WHERE client_id IS NOT NULL;

ALTER TABLE message
    -- A deleted message stays as a tombstone: it keeps its seq, loses its body.
    ADD CONSTRAINT message_tombstone CHECK ((body IS NULL) = (deleted_at IS NOT NULL)),
    ADD CONSTRAINT message_reply_to_earlier CHECK (reply_to BETWEEN 1 AND seq - 1),
    ADD CONSTRAINT message_reply_to_same_chat
        FOREIGN KEY (chat_sesh_id, reply_to) REFERENCES message (chat_sesh_id, seq),
    ADD CONSTRAINT message_sent_digest CHECK ((sent_digest IS NULL) = (client_id IS NULL));

-- The distinct emoji on a message, in the order each was first used (id); an emoji
-- whose last reaction goes is deleted, and comes back last. Its slot (1 to 20, one
-- emoji each) caps the distinct emoji at 20 by constraint alone.
CREATE TABLE message_emoji (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    message_id bigint NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    emoji      text NOT NULL,
    slot       smallint NOT NULL,
    CONSTRAINT message_emoji_pkey PRIMARY KEY (message_id, emoji),
    CONSTRAINT message_emoji_slot_key UNIQUE (message_id, slot),
    CONSTRAINT message_emoji_slot_range CHECK (slot BETWEEN 1 AND 20),
    CONSTRAINT message_emoji_length CHECK (char_length(emoji) BETWEEN 1 AND 32)
);

-- Who reacted with what; id orders an emoji's users.
CREATE TABLE reaction (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    message_id bigint NOT NULL,
    emoji      text NOT NULL,
    user_id    bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    CONSTRAINT reaction_pkey PRIMARY KEY (message_id, emoji, user_id),
    CONSTRAINT reaction_message_emoji FOREIGN KEY (message_id, emoji)
        REFERENCES message_emoji (message_id, emoji) ON DELETE CASCADE
);

-- No query inside, so that PostgreSQL inlines it; the callers join the sender.
CREATE OR REPLACE FUNCTION message_json(m message, sender app_user) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', m.id, 'chat_id', m.chat_sesh_id, 'seq', m.seq,
        'sender', json_build_object('id', sender.id, 'username', sender.username),
        'body', m.body, 'created_at', rfc3339(m.created_at), 'client_id', m.client_id,
        'reply_to', m.reply_to, 'edited_at', rfc3339(m.edited_at),
        'deleted_at', rfc3339(m.deleted_at), 'reactions', m.reactions)
$$;

DROP FUNCTION send_message(bigint, bigint, text, text);

-- A message's reactions as the API shows them (kept in message.reactions, so that
-- reading a message needs no query of its own).
CREATE FUNCTION reactions_json(p_message_id bigint) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(json_agg(json_build_object(
               'emoji', e.emoji,
               'user_ids', (SELECT json_agg(r.user_id ORDER BY r.id) FROM reaction r
                            WHERE r.message_id = e.message_id AND r.emoji = e.emoji))
           ORDER BY e.id), '[]')
    FROM message_emoji e
    WHERE e.message_id = p_message_id
$$;

-- The checks every change to a message makes, after taking the chat's locks (the
-- pair's first in a direct chat when the change needs the right to send): outcome
-- not_found (no such chat, message or participant), or NULL with the chat and the
-- message.
CREATE FUNCTION lock_message(
    p_chat_id bigint, p_seq bigint, p_user_id bigint, p_as_sender boolean,
    OUT outcome text, OUT c chat_sesh, OUT m message)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    SELECT * INTO c FROM chat_sesh WHERE id = p_chat_id;
    IF p_as_sender AND c.kind = 'direct' THEN
        PERFORM pg_advisory_xact_lock(pair_lock_key(c.direct_low, c.direct_high));
    END IF;
    PERFORM pg_advisory_xact_lock(chat_lock_key(p_chat_id));
    SELECT * INTO m FROM message WHERE chat_sesh_id = p_chat_id AND seq = p_seq;
    IF c.id IS NULL OR m.id IS NULL OR NOT EXISTS (
        SELECT FROM chat_participant WHERE chat_sesh_id = p_chat_id AND user_id = p_user_id
    ) THEN
        outcome := 'not_found';
    END IF;
END
$$;

-- Whether the two sides of a direct chat may still write to each other; else the
-- outcome (not_friends) and the other side's username.
CREATE FUNCTION direct_chat_refusal(c chat_sesh, p_user_id bigint, OUT outcome text, OUT stranger text)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF c.kind = 'direct' AND NOT EXISTS (
        SELECT FROM friendship WHERE user_low = c.direct_low AND user_high = c.direct_high
    ) THEN
        outcome := 'not_friends';
        SELECT username INTO stranger FROM app_user
        WHERE id = c.direct_low + c.direct_high - p_user_id;
    END IF;
END
$$;

-- A send in one round trip: checks, seq, message and its event. outcome is sent,
-- repeated (a retried client_id), client_id_conflict, bad_reply_to, not_found or
-- not_friends (stranger: the other side's username).
CREATE FUNCTION send_message(
    p_chat_id bigint, p_sender_id bigint, p_body text, p_client_id text, p_reply_to bigint,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c chat_sesh;
    m message;
    sender app_user;
BEGIN
    -- Locks before any write, the pair's before the chat's (see chaat/access.py). The
    -- pair's lock, as unfriending takes it: no send to a direct chat slips past one.
    SELECT * INTO c FROM chat_sesh WHERE id = p_chat_id;
    IF c.kind = 'direct' THEN
        PERFORM pg_advisory_xact_lock(pair_lock_key(c.direct_low, c.direct_high));
    END IF;
    PERFORM pg_advisory_xact_lock(chat_lock_key(p_chat_id));
    IF c.id IS NULL OR NOT EXISTS (
        SELECT FROM chat_participant WHERE chat_sesh_id = p_chat_id AND user_id = p_sender_id
    ) THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    SELECT * INTO outcome, stranger FROM direct_chat_refusal(c, p_sender_id);
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT * INTO sender FROM app_user WHERE id = p_sender_id;
    IF p_client_id IS NOT NULL THEN
        SELECT * INTO m FROM message
        WHERE chat_sesh_id = p_chat_id AND sender_id = p_sender_id AND client_id = p_client_id;
        IF FOUND THEN
            outcome := CASE WHEN m.sent_digest = sent_digest(p_body, p_reply_to)
                            THEN 'repeated' ELSE 'client_id_conflict' END;
            message := message_json(m, sender);
            RETURN;
        END IF;
    END IF;
    IF p_reply_to IS NOT NULL AND NOT EXISTS (
        SELECT FROM message WHERE chat_sesh_id = p_chat_id AND seq = p_reply_to
    ) THEN
        outcome := 'bad_reply_to';
        RETURN;
    END IF;
    UPDATE chat_sesh SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
    WHERE id = p_chat_id
    RETURNING last_seq INTO c.last_seq;
    -- A sender who had read everything has read their own message too.
    UPDATE chat_participant SET last_read_seq = c.last_seq
    WHERE chat_sesh_id = p_chat_id AND user_id = p_sender_id AND last_read_seq = c.last_seq - 1;
    INSERT INTO message (chat_sesh_id, seq, sender_id, body, client_id, reply_to, sent_digest)
    VALUES (p_chat_id, c.last_seq, p_sender_id, p_body, p_client_id, p_reply_to,
            CASE WHEN p_client_id IS NOT NULL THEN sent_digest(p_body, p_reply_to) END)
    RETURNING * INTO m;
    INSERT INTO event (chat_sesh_id, type, message_id) VALUES (p_chat_id, 'message.created', m.id);
    outcome := 'sent';
    message := message_json(m, sender);
END
$$;

-- An edit by its sender, in one round trip: outcome edited, not_found, forbidden (not
-- the sender), not_friends (stranger: the other side) or message_deleted.
CREATE FUNCTION edit_message(
    p_chat_id bigint, p_seq bigint, p_user_id bigint, p_body text,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    locked record;
    c chat_sesh;
    m message;
    sender app_user;
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
    SELECT * INTO sender FROM app_user WHERE id = p_user_id;
    outcome := 'edited';
    message := message_json(m, sender);
END
$$;

-- A deletion by the sender or a group's creator, in one round trip: outcome deleted,
-- unchanged (a tombstone already), not_found or forbidden. The message stays as a
-- tombstone: its seq and reply_to, no body, no reactions.
CREATE FUNCTION delete_message(p_chat_id bigint, p_seq bigint, p_user_id bigint, OUT outcome text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    locked record;
    c chat_sesh;
    m message;
BEGIN
    locked := lock_message(p_chat_id, p_seq, p_user_id, false);
    IF locked.outcome IS NOT NULL THEN
        outcome := locked.outcome;
        RETURN;
    END IF;
    c := locked.c;
    m := locked.m;
    IF m.sender_id <> p_user_id AND NOT (c.kind = 'group' AND c.created_by = p_user_id) THEN
        outcome := 'forbidden';
        RETURN;
    END IF;
    IF m.deleted_at IS NOT NULL THEN
        outcome := 'unchanged';
        RETURN;
    END IF;
    DELETE FROM message_emoji WHERE message_id = m.id;
    UPDATE message SET body = NULL, deleted_at = clock_timestamp(), reactions = '[]'
    WHERE id = m.id;
    INSERT INTO event (chat_sesh_id, type, message_id) VALUES (p_chat_id, 'message.updated', m.id);
    outcome := 'deleted';
END
$$;

-- The caller's reaction added (p_add) or removed, in one round trip: outcome changed,
-- unchanged (already so), not_found, not_friends (adding in a direct chat; stranger:
-- the other side), message_deleted (adding to a tombstone) or too_many_reactions.
CREATE FUNCTION set_reaction(
    p_chat_id bigint, p_seq bigint, p_user_id bigint, p_emoji text, p_add boolean,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    locked record;
    c chat_sesh;
    m message;
    sender app_user;
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
    SELECT * INTO sender FROM app_user WHERE id = m.sender_id;
    message := message_json(m, sender);
END
$$;

-- The caller's read marker moved forward to seq (at most the chat's last message), in
-- one round trip: outcome moved (with chat.read to the chat), unchanged or not_found.
CREATE FUNCTION mark_read(p_chat_id bigint, p_user_id bigint, p_seq bigint, OUT outcome text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    marker bigint;
BEGIN
    UPDATE chat_participant p SET last_read_seq = least(p_seq, c.last_seq)
    FROM chat_sesh c
    WHERE c.id = p_chat_id AND p.chat_sesh_id = p_chat_id AND p.user_id = p_user_id
      AND p.last_read_seq < least(p_seq, c.last_seq)
    RETURNING p.last_read_seq INTO marker;
    IF marker IS NOT NULL THEN
        INSERT INTO event (chat_sesh_id, type, data)
        VALUES (p_chat_id, 'chat.read',
                json_build_object('chat_id', p_chat_id, 'user_id', p_user_id, 'seq', marker));
        outcome := 'moved';
    ELSIF EXISTS (
        SELECT FROM chat_participant WHERE chat_sesh_id = p_chat_id AND user_id = p_user_id
    ) THEN
        outcome := 'unchanged';
    ELSE
        outcome := 'not_found';
    END IF;
END
$$;
