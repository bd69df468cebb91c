-- name: create_direct(user_a, user_b, created_by)$
-- The direct chat of two users, unless it exists: then null, and the caller
-- reads it with get_direct in a new statement, which sees a row committed meanwhile.
INSERT INTO chat_sesh (kind, created_by, direct_low, direct_high)
VALUES ('direct', :created_by,
        least(:user_a::bigint, :user_b::bigint), greatest(:user_a::bigint, :user_b::bigint))
ON CONFLICT (direct_low, direct_high) DO NOTHING
RETURNING id;
