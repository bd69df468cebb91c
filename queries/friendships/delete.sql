-- name: delete(user_a, user_b)$
-- End a friendship; answers whether there was one.
WITH gone AS (
    DELETE FROM friendship
    WHERE user_low = least(:user_a::bigint, :user_b::bigint)
      AND user_high = greatest(:user_a::bigint, :user_b::bigint)
    RETURNING 1)
SELECT EXISTS (SELECT FROM gone);
