-- name: create(user_a, user_b)!
-- Make two users friends; already being friends is fine.
INSERT INTO friendship (user_low, user_high)
VALUES (least(:user_a::bigint, :user_b::bigint), greatest(:user_a::bigint, :user_b::bigint))
ON CONFLICT DO NOTHING;
