-- name: list_chat_ids(user_ids)
-- The chats each of these users takes part in (the Redis bus subscribes to them).
SELECT user_id, array_agg(chat_sesh_id) AS chat_ids
FROM chat_participant
WHERE user_id = ANY(:user_ids::bigint[])
GROUP BY user_id;
