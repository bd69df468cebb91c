-- name: lock_pair(user_a, user_b)$
-- Serialise everything two users do to each other's friendship, whichever way round:
-- two requests crossing in flight must end as one friendship, not two pending requests.
SELECT pg_advisory_xact_lock(hashtextextended(
    least(:user_a::bigint, :user_b::bigint)::text || ':' || greatest(:user_a::bigint, :user_b::bigint)::text,
    0));
