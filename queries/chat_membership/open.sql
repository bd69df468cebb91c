-- name: open(chat_id, user_ids, event_id)!
-- Users join a chat's audience from this event on.
INSERT INTO chat_membership (chat_sesh_id, user_id, from_event_id)
SELECT :chat_id, unnest(:user_ids::bigint[]), :event_id
ON CONFLICT DO NOTHING;
