-- name: set_password_hash(id, password_hash)!
-- Store a new hash (a changed password, or a rehash with newer parameters).
UPDATE app_user SET password_hash = :password_hash WHERE id = :id;
