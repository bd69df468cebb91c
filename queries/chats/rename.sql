-- name: rename(id, name)!
-- Give a group a new name.
UPDATE chat_sesh SET name = :name WHERE id = :id;
