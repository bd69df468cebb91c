-- name: get(id, user_id)^
-- A chat's facts, and whether user_id takes part in it.
SELECT c.id, c.kind, c.name, c.created_by, c.direct_low, c.direct_high, c.last_seq,
       EXISTS (SELECT FROM chat_participant p
               WHERE p.chat_sesh_id = c.id AND p.user_id = :user_id) AS is_participant
FROM chat_sesh c
WHERE c.id = :id;
