-- name: lock(id)$
-- Take the chat's lock, as sending a message does (send_message): changes to one
-- chat then happen one at a time. Taken before the transaction's first write.
SELECT pg_advisory_xact_lock(chat_lock_key(:id));
