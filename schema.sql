-- Chaat's whole schema, as the migrations in migrations/ leave it: the one place to
-- read every table. It is not run by the server; a schema change is a new migration
-- and the same change here (tests/test_migrations.py checks that they agree).
-- The rules clients rely on live here as constraints, not only in Python:
-- chaat/db.py maps each constraint name to the API error it means.

CREATE TABLE app_user (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL,
    display_name  text NOT NULL,
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT app_user_username_format CHECK (username ~ '^[A-Za-z][A-Za-z0-9_.-]{2,31}$'),
    CONSTRAINT app_user_display_name_length CHECK (char_length(display_name) <= 64)
);
-- Alice and alice are one name; text_pattern_ops also serves prefix search.
CREATE UNIQUE INDEX app_user_username_key
    ON app_user (lower(username) text_pattern_ops);

-- A token is a signed pointer to one of these rows: deleting the row revokes it
-- at once on every server process.
CREATE TABLE auth_token (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT auth_token_expires_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX auth_token_user_id ON auth_token (user_id);

-- Invite codes for CHAAT_REGISTRATION=invite; a code is kept only as its SHA-256.
CREATE TABLE invite (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_hash  bytea NOT NULL,
    uses_left  integer NOT NULL,
    expires_at timestamptz NOT NULL,
    -- NULL: made by `chaat admin invite`.
    created_by bigint REFERENCES app_user (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invite_code_hash_key UNIQUE (code_hash),
    CONSTRAINT invite_uses_left_not_negative CHECK (uses_left >= 0),
    CONSTRAINT invite_expires_after_creation CHECK (expires_at > created_at)
);

CREATE TABLE friend_request (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_user_id bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    to_user_id   bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'pending',
    created_at   timestamptz NOT NULL DEFAULT now(),
    responded_at timestamptz,
    CONSTRAINT friend_request_status CHECK (status IN ('pending', 'accepted', 'rejected')),
    CONSTRAINT friend_request_not_self CHECK (from_user_id <> to_user_id),
    CONSTRAINT friend_request_responded CHECK ((status = 'pending') = (responded_at IS NULL))
);
-- At most one pending request between two people, whichever way it points:
-- a request back accepts the pending one instead of adding a second.
CREATE UNIQUE INDEX friend_request_one_pending
    ON friend_request (least(from_user_id, to_user_id), greatest(from_user_id, to_user_id))
    WHERE status = 'pending';
CREATE INDEX friend_request_to_user ON friend_request (to_user_id, id);
CREATE INDEX friend_request_from_user ON friend_request (from_user_id, id);

-- Rate limits (chaat/limits.py): per limited key, the moment its allowance is full
-- again (GCRA's theoretical arrival time). Unlogged: a crash may reset counters.
CREATE UNLOGGED TABLE rate_limit (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);

-- One row per pair, smaller id first.
CREATE TABLE friendship (
    user_low  bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    user_high bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    since     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT friendship_pkey PRIMARY KEY (user_low, user_high),
    CONSTRAINT friendship_ordered CHECK (user_low < user_high)
);
CREATE INDEX friendship_user_high ON friendship (user_high);

-- While either blocks the other: no friend request between them, no writing in
-- their direct chat (direct_chat_refusal()).
CREATE TABLE user_block (
    blocker_id bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    blocked_id bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    since      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_block_pkey PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT user_block_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX user_block_blocked ON user_block (blocked_id);


-- A chat session. last_seq numbers its messages; the UPDATE that bumps it
-- also serialises the chat's senders, so seq follows commit order.
CREATE TABLE chat_sesh (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL,
    name             text,
    created_by       bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seq         bigint NOT NULL DEFAULT 0,
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    -- The two members of a direct chat, smaller id first; null for groups.
    direct_low       bigint REFERENCES app_user (id) ON DELETE CASCADE,
    direct_high      bigint REFERENCES app_user (id) ON DELETE CASCADE,
    CONSTRAINT chat_sesh_kind CHECK (kind IN ('direct', 'group')),
    CONSTRAINT chat_sesh_name_length CHECK (char_length(name) BETWEEN 1 AND 64),
    CONSTRAINT chat_sesh_shape CHECK (
        (kind = 'direct' AND name IS NULL AND direct_low < direct_high)
        -- A group's name is optional (null: clients show its members).
        OR (kind = 'group' AND direct_low IS NULL AND direct_high IS NULL)
    ),
    CONSTRAINT chat_sesh_direct_pair UNIQUE (direct_low, direct_high)
);

CREATE TABLE chat_participant (
    chat_sesh_id  bigint NOT NULL REFERENCES chat_sesh (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    last_read_seq bigint NOT NULL DEFAULT 0,
    CONSTRAINT chat_participant_pkey PRIMARY KEY (chat_sesh_id, user_id),
    CONSTRAINT chat_participant_read_seq CHECK (last_read_seq >= 0)
);
CREATE INDEX chat_participant_user ON chat_participant (user_id);

CREATE TABLE message (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_sesh_id bigint NOT NULL REFERENCES chat_sesh (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    sender_id    bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    body         text,
    client_id    text,
    -- The clock at insert, not the transaction's start: seq is given out under
    -- the chat's lock, so created_at grows with seq.
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    reply_to     bigint,
    edited_at    timestamptz,
    deleted_at   timestamptz,
    sent_digest  bytea,
    -- reactions_json(id), kept here so that reading a message needs no query of its own.
    reactions    json NOT NULL DEFAULT '[]',
    -- The body's words, for search: runs of letters and digits, lowercased ('simple');
    -- a tombstone has none. The expression itself, not a function: PostgreSQL plans
    -- it at every INSERT, and would parse an SQL function's body each time to inline it.
    body_words   tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED,
    -- The message as the API shows it, message_json(), kept by the trigger
    -- message_api_json at every write: reading messages (a history page, an event,
    -- a search) reads this, and builds no JSON and looks up no sender.
    api_json     json NOT NULL,
    CONSTRAINT message_body_length CHECK (char_length(body) BETWEEN 1 AND 4000),
    CONSTRAINT message_client_id_length CHECK (char_length(client_id) <= 64),
    -- History pages are range scans of this index, whatever the chat's size;
    -- with sender_id in it, unread counts are index-only scans.
    CONSTRAINT message_chat_seq UNIQUE (chat_sesh_id, seq) INCLUDE (sender_id),
    CONSTRAINT message_client_id_once UNIQUE (chat_sesh_id, sender_id, client_id),
    -- A deleted message stays as a tombstone: it keeps its seq, loses its body.
    CONSTRAINT message_tombstone CHECK ((body IS NULL) = (deleted_at IS NOT NULL)),
    CONSTRAINT message_reply_to_earlier CHECK (reply_to BETWEEN 1 AND seq - 1),
    CONSTRAINT message_reply_to_same_chat
        FOREIGN KEY (chat_sesh_id, reply_to) REFERENCES message (chat_sesh_id, seq),
    -- What a client_id retry is compared with (sent_digest()).
    CONSTRAINT message_sent_digest CHECK ((sent_digest IS NULL) = (client_id IS NULL))
);
CREATE INDEX message_body_words ON message USING gin (body_words);

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

-- The highest event id pruned so far: a client resuming below it has missed
-- events that are gone, and is told to resync. id_shift lifts the ids made from
-- transaction ids above those a sequence gave out before (migration 0003).
CREATE TABLE event_horizon (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_through bigint NOT NULL DEFAULT 0,
    id_shift       bigint NOT NULL DEFAULT 0,
    -- When the PostgreSQL that id_shift was last moved for started (next_event_id()).
    started_at     timestamptz
);
INSERT INTO event_horizon (started_at) VALUES (pg_postmaster_start_time());

-- An event's id is its place in the stream: (writing transaction's id + id_shift) * 1024
-- + its number within the transaction. No lock is shared by the writers: a reader
-- delivers only the events below settled_event_id(), where every transaction that
-- could still write one has ended, and so sees the stream in id order (the whole
-- argument is in chaat/events.py and chaat/hub.py). A transaction takes its locks
-- before its first write, so that one waiting on another's lock gets a larger
-- transaction id. A transaction id that never reached the disk can be handed out
-- again after a crash: after every start of PostgreSQL, id_shift moves up first.
CREATE FUNCTION next_event_id() RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    written integer := coalesce(nullif(current_setting('chaat.events_written', true), ''), '0');
    shift bigint;
BEGIN
    IF written >= 1024 THEN
        RAISE EXCEPTION 'one transaction writes at most 1024 events';
    END IF;
    PERFORM set_config('chaat.events_written', (written + 1)::text, true);
    SELECT id_shift INTO shift FROM event_horizon WHERE started_at = pg_postmaster_start_time();
    IF NOT FOUND THEN
        -- The first event since PostgreSQL started: move the ids up, once (whoever
        -- comes second waits for the first's commit, then finds it done).
        UPDATE event_horizon SET id_shift = id_shift + 1000000,
                                 started_at = pg_postmaster_start_time()
        WHERE started_at IS DISTINCT FROM pg_postmaster_start_time();
        SELECT id_shift INTO shift FROM event_horizon;
    END IF;
    RETURN (pg_current_xact_id()::text::bigint + shift) * 1024 + written;
END
$$;

-- Every event below this id is committed or will never exist. STABLE: it reads the
-- calling statement's snapshot, so that a statement reading the events below it sees
-- every one of them (a VOLATILE function would take a later snapshot of its own).
-- The running transactions of the cluster's other databases, and of its background
-- processes, write no event of ours and are left out; pg_stat_get_activity() is read
-- only when some transaction is running, and without pg_stat_activity's joins.
CREATE FUNCTION settled_event_id() RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    s pg_snapshot := pg_current_snapshot();
    horizon bigint := pg_snapshot_xmax(s)::text::bigint;
BEGIN
    IF pg_snapshot_xmin(s) <> pg_snapshot_xmax(s) THEN
        horizon := least(horizon, (
            SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
            WHERE x::xid NOT IN (
                SELECT a.backend_xid FROM pg_stat_get_activity(NULL) AS a
                WHERE a.backend_xid IS NOT NULL
                  AND (a.datid IS DISTINCT FROM (SELECT oid FROM pg_database
                                                 WHERE datname = current_database())
                       OR a.backend_type <> 'client backend'))));
    END IF;
    RETURN (horizon + (SELECT id_shift FROM event_horizon)) * 1024;
END
$$;

-- Live events, kept for replay (GET /v1/events?since=). An event goes to one
-- user (user_id) or to a chat's participants at that moment (chat_sesh_id, see
-- chat_membership), so a message to a 100-member group is one row, not 100.
-- message.created refers to its message (message_id) rather than copying it.
CREATE TABLE event (
    id           bigint PRIMARY KEY DEFAULT next_event_id(),
    user_id      bigint REFERENCES app_user (id) ON DELETE CASCADE,
    chat_sesh_id bigint REFERENCES chat_sesh (id) ON DELETE CASCADE,
    type         text NOT NULL,
    data         json,
    created_at   timestamptz NOT NULL DEFAULT now(),
    message_id   bigint REFERENCES message (id) ON DELETE CASCADE,
    CONSTRAINT event_one_audience CHECK ((user_id IS NULL) <> (chat_sesh_id IS NULL)),
    CONSTRAINT event_data_or_message CHECK ((data IS NULL) <> (message_id IS NULL))
);
CREATE INDEX event_user ON event (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX event_chat ON event (chat_sesh_id, id) WHERE chat_sesh_id IS NOT NULL;
CREATE INDEX event_created_at ON event (created_at);
CREATE INDEX event_message ON event (message_id) WHERE message_id IS NOT NULL;

-- Who received a chat's events when: a user gets the chat's events with ids from
-- from_event_id (the event that brought them in) to until_event_id (the one that
-- took them out, inclusive, so a leaver hears of their own leaving).
CREATE TABLE chat_membership (
    chat_sesh_id   bigint NOT NULL REFERENCES chat_sesh (id) ON DELETE CASCADE,
    user_id        bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    from_event_id  bigint NOT NULL,
    until_event_id bigint,
    CONSTRAINT chat_membership_pkey PRIMARY KEY (chat_sesh_id, user_id, from_event_id),
    CONSTRAINT chat_membership_interval CHECK (until_event_id >= from_event_id)
);
CREATE INDEX chat_membership_user ON chat_membership (user_id);
-- At most one open interval per member.
CREATE UNIQUE INDEX chat_membership_one_open
    ON chat_membership (chat_sesh_id, user_id) WHERE until_event_id IS NULL;


-- Every timestamp in the API has this one shape: 2026-11-24T10:15:00.123456Z.
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- The API's objects, built where the data is so that a list is one round trip.
-- PostgreSQL inlines an SQL function whose body is one expression with no query
-- inside (user_json, message_json): as if its text were written in place. One with a
-- query (chat_json) is PL/pgSQL, which keeps the query's plan for the session: before
-- PostgreSQL 18, an SQL function plans its query again on every call (migration 0015).
CREATE FUNCTION user_json(u app_user) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', u.id, 'username', u.username, 'display_name', u.display_name,
        'created_at', rfc3339(u.created_at))
$$;

CREATE FUNCTION friend_request_json(r friend_request) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'id', r.id,
            'from', (SELECT user_json(u) FROM app_user u WHERE u.id = r.from_user_id),
            'to', (SELECT user_json(u) FROM app_user u WHERE u.id = r.to_user_id),
            'status', r.status,
            'created_at', rfc3339(r.created_at),
            'responded_at', rfc3339(r.responded_at)));
END
$$;

-- A message as the API shows it: the fields, in order, of the JSON object message_json()
-- makes (row_to_json() of a row type costs a third less than json_build_object()).
CREATE TYPE api_sender AS (id bigint, username text);

CREATE TYPE api_message AS (
    id bigint, chat_id bigint, seq bigint, sender api_sender, body text, created_at text,
    client_id text, reply_to bigint, edited_at text, deleted_at text, reactions json);

-- What message.api_json holds (kept by the trigger below); the caller gives the sender.
CREATE FUNCTION message_json(m message, sender app_user) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT row_to_json(ROW(
        m.id, m.chat_sesh_id, m.seq, ROW(sender.id, sender.username)::api_sender,
        m.body, rfc3339(m.created_at), m.client_id, m.reply_to, rfc3339(m.edited_at),
        rfc3339(m.deleted_at), m.reactions)::api_message)
$$;

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

-- A chat as viewer_id sees it: last_message and unread_count are theirs, and
-- someone who is not a participant (an administrator) sees neither. A null
-- viewer (a live event, sent to everyone in the chat) sees last_message, unread_count 0.
CREATE FUNCTION chat_json(c chat_sesh, viewer_id bigint) RETURNS json
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

-- The advisory locks that serialise a chat's writers, and everything two users do
-- to their friendship. chat_id::text: text || text is immutable (text || bigint is
-- not), so that PostgreSQL inlines the function instead of running it as a query.
CREATE FUNCTION chat_lock_key(chat_id bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hashtextextended('chat ' || chat_id::text, 0) $$;

CREATE FUNCTION pair_lock_key(user_a bigint, user_b bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT hashtextextended(
        least(user_a, user_b)::text || ':' || greatest(user_a, user_b)::text, 0)
$$;

-- Search: messages of user_id's chats (or of chat p_chat_id) with an id below
-- p_before whose words (message.body_words) start with every word of p_q, newest first.
-- EXECUTE plans each search for its own values (a cached generic plan read the index
-- once per chat); only the page's messages become JSON.
CREATE FUNCTION search_messages(
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

-- What a client_id retry is compared with: what was sent the first time, whatever
-- happened to the message since (an edit, a deletion).
CREATE FUNCTION sent_digest(body text, reply_to bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT sha256(convert_to(coalesce(reply_to::text, '') || ':' || body, 'UTF8')) $$;

-- A message's reactions as the API shows them (kept in message.reactions, so that
-- reading a message needs no query of its own).
CREATE FUNCTION reactions_json(p_message_id bigint) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT coalesce(json_agg(json_build_object(
                   'emoji', e.emoji,
                   'user_ids', (SELECT json_agg(r.user_id ORDER BY r.id) FROM reaction r
                                WHERE r.message_id = e.message_id AND r.emoji = e.emoji))
               ORDER BY e.id), '[]')
        FROM message_emoji e
        WHERE e.message_id = p_message_id);
END
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
-- outcome (blocked: either blocks the other; not_friends) and the other side's username.
CREATE FUNCTION direct_chat_refusal(
    c chat_sesh, p_user_id bigint, OUT outcome text, OUT stranger text)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF c.kind <> 'direct' THEN
        RETURN;
    END IF;
    IF EXISTS (
        SELECT FROM user_block
        WHERE (blocker_id, blocked_id) IN ((c.direct_low, c.direct_high),
                                           (c.direct_high, c.direct_low))
    ) THEN
        outcome := 'blocked';
    ELSIF NOT EXISTS (
        SELECT FROM friendship WHERE user_low = c.direct_low AND user_high = c.direct_high
    ) THEN
        outcome := 'not_friends';
        SELECT username INTO stranger FROM app_user
        WHERE id = c.direct_low + c.direct_high - p_user_id;
    END IF;
END
$$;

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

-- One send, in the caller's transaction (a chat created with its first message, a
-- send to a user): send_messages() with one message and no rate limit.
CREATE FUNCTION send_message(
    p_chat_id bigint, p_sender_id bigint, p_body text, p_client_id text, p_reply_to bigint,
    OUT outcome text, OUT message json, OUT stranger text)
LANGUAGE sql VOLATILE
AS $$
    SELECT s.outcome, s.message, s.stranger
    FROM send_messages(ARRAY[p_chat_id], ARRAY[p_sender_id], ARRAY[p_body],
                       ARRAY[p_client_id], ARRAY[p_reply_to], NULL, NULL, NULL) AS s
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

-- Spend one of `burst` units that come back one per `period`: 0 when spent, else the
-- seconds until one is back (nothing is spent then).
CREATE FUNCTION take_rate(p_key text, p_burst integer, p_period interval)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    v_tat timestamptz;
BEGIN
    INSERT INTO rate_limit AS r (key, tat) VALUES (p_key, now() + p_period)
    ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, now()) + p_period
        WHERE greatest(r.tat, now()) + p_period <= now() + p_burst * p_period;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT tat INTO v_tat FROM rate_limit WHERE key = p_key;
    RETURN greatest(extract(epoch FROM v_tat + p_period - p_burst * p_period - now()), 0.001);
END
$$;

