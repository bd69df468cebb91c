-- name: use(code_hash)$
-- Take one use of a live invite; answers whether there was one to take. Two signups
-- racing for the last use: the second waits for the first's row lock, finds
-- uses_left at 0 and takes nothing.
WITH used AS (
    UPDATE invite SET uses_left = uses_left - 1
    WHERE code_hash = :code_hash AND uses_left > 0 AND expires_at > now()
    RETURNING 1)
SELECT EXISTS (SELECT FROM used);
