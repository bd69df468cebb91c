-- name: add_many(chat_id, user_ids)!
-- Put users in a chat; those already in it stay as they are.
INSERT INTO chat_participant (chat_sesh_id, user_id)
SELECT :chat_id, unnest(:user_ids::bigint[])
ON CONFLICT DO NOTHING;
