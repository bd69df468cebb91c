-- name: prune()!
-- Keys whose allowance is full again count as much as no row.
DELETE FROM rate_limit WHERE tat < now();
