-- name: exists(chat_id, user_id)$
-- Whether a user is in a chat.
SELECT EXISTS (SELECT FROM chat_participant WHERE chat_sesh_id = :chat_id AND user_id = :user_id);
