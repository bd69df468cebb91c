-- name: create(user_id, chat_id, type, data)$
-- Record an event for one user or for a chat's participants.
INSERT INTO event (user_id, chat_sesh_id, type, data)
VALUES (:user_id, :chat_id, :type, :data)
RETURNING id;
