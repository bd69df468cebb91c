-- name: exists(user_a, user_b)$
-- Whether two users are friends.
SELECT EXISTS (
    SELECT FROM friendship
    WHERE user_low = least(:user_a::bigint, :user_b::bigint)
      AND user_high = greatest(:user_a::bigint, :user_b::bigint));
