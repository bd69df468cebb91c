-- name: create_group(name, created_by)$
-- A new group chat; its participants are added next, in the same transaction.
INSERT INTO chat_sesh (kind, name, created_by)
VALUES ('group', :name, :created_by)
RETURNING id;
