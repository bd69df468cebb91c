-- name: lock_pair(user_a, user_b)$
-- Serialise everything two users do to each other's friendship, whichever way round:
-- two requests crossing in flight must end as one friendship, not two pending requests.
SELECT pg_advisory_xact_lock(pair_lock_key(:user_a, :user_b));
