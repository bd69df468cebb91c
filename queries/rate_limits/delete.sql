-- name: delete(key)!
-- Forget a key: its whole allowance is back.
DELETE FROM rate_limit WHERE key = :key;
