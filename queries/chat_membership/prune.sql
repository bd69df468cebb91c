-- name: prune(before_event_id)!
-- Forget intervals that ended before the oldest event still kept.
DELETE FROM chat_membership WHERE until_event_id < :before_event_id;
