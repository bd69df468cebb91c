-- name: search(chat_id, user_id, q, before, limit)^
-- Whether user_id may search chat_id (NULL: every chat they take part in now), and
-- the newest messages with an id below `before` whose body has, for every word of q,
-- a word starting with it (search_messages() in schema.sql), newest first.
SELECT :chat_id::bigint IS NULL OR EXISTS (
           SELECT FROM chat_participant
           WHERE chat_sesh_id = :chat_id AND user_id = :user_id) AS allowed,
       ARRAY(SELECT search_messages(:user_id, :chat_id, :q, :before, :limit)) AS page;
