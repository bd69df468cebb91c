-- name: lock(id)$
-- Take the chat's row lock, as sending a message does: membership changes and
-- sends to one chat then happen one at a time. Answers the chat's last seq.
SELECT last_seq FROM chat_sesh WHERE id = :id FOR NO KEY UPDATE;
