-- name: search(chat_id, user_id, q, before, limit)^
-- Whether user_id may search chat_id (NULL: every chat they take part in now), and if
-- so the newest messages with an id below `before` whose body has, for every word of
-- q, a word starting with it (the words cut as message_words() cuts a body), newest
-- first. The GIN index of body_words finds them: `m.id + 0` keeps the planner from
-- walking the primary key backwards through every message instead, which it would
-- do for any query, guessing that 2% of messages match.
WITH a AS MATERIALIZED (
    SELECT :chat_id::bigint IS NULL OR EXISTS (
        SELECT FROM chat_participant
        WHERE chat_sesh_id = :chat_id AND user_id = :user_id) AS allowed),
query AS MATERIALIZED (
    SELECT to_tsquery('simple', string_agg(word || ':*', ' & ')) AS words
    FROM regexp_split_to_table(regexp_replace(:q, '[^[:alnum:]]+', ' ', 'g'), ' ') AS word
    WHERE word <> '')
SELECT a.allowed, CASE WHEN a.allowed THEN ARRAY(
    SELECT message_json(m, s)::text
    FROM message m
    JOIN app_user s ON s.id = m.sender_id
    CROSS JOIN query
    WHERE m.body_words @@ query.words
      AND m.chat_sesh_id IN (
          SELECT p.chat_sesh_id FROM chat_participant p
          WHERE p.user_id = :user_id AND (:chat_id::bigint IS NULL OR p.chat_sesh_id = :chat_id))
      AND m.id < :before
    ORDER BY m.id + 0 DESC
    LIMIT :limit) END AS page
FROM a;
