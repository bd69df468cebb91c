-- The event stream without a lock shared by all chats, and a send in one statement.
--
-- An event's id was handed out under one lock held to commit, so that ids became
-- visible in id order. Now the id comes from the writing transaction's id:
-- (transaction id + id_shift) * 1024 + the event's number within the transaction.
-- Readers deliver events only below the settled id (settled_event_id()), under which
-- every transaction that could still write an event has ended, so they still see the
-- stream in id order (chaat/events.py and chaat/hub.py tell the whole story).
--
-- A message.created event refers to its message instead of holding a copy of it.

-- Ids written before this migration came from a sequence; new ones start above them.
ALTER TABLE event_horizon ADD COLUMN id_shift bigint NOT NULL DEFAULT 0;
UPDATE event_horizon
SET id_shift = greatest(
    0, (SELECT coalesce(max(id), 0) FROM event) / 1024 + 1 - pg_current_xact_id()::text::bigint);

CREATE FUNCTION next_event_id() RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    written integer := coalesce(nullif(current_setting('chaat.events_written', true), ''), '0');
BEGIN
    IF written >= 1024 THEN
        RAISE EXCEPTION 'one transaction writes at most 1024 events';
    END IF;
    PERFORM set_config('chaat.events_written', (written + 1)::text, true);
    RETURN (pg_current_xact_id()::text::bigint + (SELECT id_shift FROM event_horizon)) * 1024
        + written;
END
$$;

CREATE FUNCTION settled_event_id() RETURNS bigint
LANGUAGE sql VOLATILE
AS $$
    SELECT (least(
        pg_snapshot_xmax(s)::text::bigint,
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
         WHERE x::xid NOT IN (
             SELECT backend_xid FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL
               AND (datname IS DISTINCT FROM current_database()
                    OR backend_type <> 'client backend'))))
        + (SELECT id_shift FROM event_horizon)) * 1024
    FROM pg_current_snapshot() AS s
$$;

ALTER TABLE event
    ALTER COLUMN id DROP IDENTITY,
    ALTER COLUMN id SET DEFAULT next_event_id(),
    ALTER COLUMN data DROP NOT NULL,
    ADD COLUMN message_id bigint REFERENCES message (id) ON DELETE CASCADE,
    ADD CONSTRAINT event_data_or_message CHECK ((data IS NULL) <> (message_id IS NULL));
CREATE INDEX event_message ON event (message_id) WHERE message_id IS NOT NULL;

CREATE FUNCTION chat_lock_key(chat_id bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hashtextextended('chat ' || chat_id, 0) $$;

CREATE FUNCTION pair_lock_key(user_a bigint, user_b bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT hashtextextended(
        least(user_a, user_b)::text || ':' || greatest(user_a, user_b)::text, 0)
$$;

CREATE FUNCTION send_message(
    p_chat_id bigint, p_sender_id bigint, p_body text, p_client_id text,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c chat_sesh;
    m message;
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
    IF c.kind = 'direct' THEN
        IF NOT EXISTS (
            SELECT FROM friendship WHERE user_low = c.direct_low AND user_high = c.direct_high
        ) THEN
            outcome := 'not_friends';
            SELECT username INTO stranger FROM app_user
            WHERE id = c.direct_low + c.direct_high - p_sender_id;
            RETURN;
        END IF;
    END IF;
    IF p_client_id IS NOT NULL THEN
        SELECT * INTO m FROM message
        WHERE chat_sesh_id = p_chat_id AND sender_id = p_sender_id AND client_id = p_client_id;
        IF FOUND THEN
            outcome := CASE WHEN m.body = p_body THEN 'repeated' ELSE 'client_id_conflict' END;
            message := message_json(m);
            RETURN;
        END IF;
    END IF;
    UPDATE chat_sesh SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
    WHERE id = p_chat_id
    RETURNING last_seq INTO c.last_seq;
    -- A sender who had read everything has read their own message too.
    UPDATE chat_participant SET last_read_seq = c.last_seq
    WHERE chat_sesh_id = p_chat_id AND user_id = p_sender_id AND last_read_seq = c.last_seq - 1;
    INSERT INTO message (chat_sesh_id, seq, sender_id, body, client_id)
    VALUES (p_chat_id, c.last_seq, p_sender_id, p_body, p_client_id)
    RETURNING * INTO m;
    INSERT INTO event (chat_sesh_id, type, message_id) VALUES (p_chat_id, 'message.created', m.id);
    outcome := 'sent';
    message := message_json(m);
END
$$;
