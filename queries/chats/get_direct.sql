-- name: get_direct(user_a, user_b)$
-- The id of the direct chat of two users, if they have one.
SELECT id FROM chat_sesh
WHERE direct_low = least(:user_a::bigint, :user_b::bigint)
  AND direct_high = greatest(:user_a::bigint, :user_b::bigint);
