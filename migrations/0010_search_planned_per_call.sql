-- Search, planned for each call's own values. The statement is prepared once and
-- cached (asyncpg), and after a few calls PostgreSQL may keep one generic plan for
-- every value, which read the words index once per chat of the user and walked the
-- primary key for `id < before` each time (25 times slower for a rare word). EXECUTE
-- plans each search anew; and only the page's messages are turned into JSON.

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
        SELECT message_json(m, s)::text
        FROM page
        JOIN message m ON m.id = page.id
        JOIN app_user s ON s.id = m.sender_id
        ORDER BY m.id DESC
    $search$ USING p_user_id, p_chat_id, p_q, p_before, p_limit;
END
$$;
