-- name: add(chat_id, user_id)!
-- Put one user in a chat; chat_participant_pkey refuses a second time.
INSERT INTO chat_participant (chat_sesh_id, user_id) VALUES (:chat_id, :user_id);
