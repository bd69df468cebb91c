-- name: remove(chat_id, user_id)$
-- Take a user out of a chat; answers whether they were in it.
WITH gone AS (
    DELETE FROM chat_participant WHERE chat_sesh_id = :chat_id AND user_id = :user_id
    RETURNING 1)
SELECT EXISTS (SELECT FROM gone);
