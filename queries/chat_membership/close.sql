-- name: close(chat_id, user_ids, event_id)!
-- Users leave a chat's audience after this event (which they still receive).
UPDATE chat_membership SET until_event_id = :event_id
WHERE chat_sesh_id = :chat_id AND user_id = ANY(:user_ids::bigint[]) AND until_event_id IS NULL;
