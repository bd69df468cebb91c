-- name: delete_all_for_user(user_id)!
-- Revoke every token of a user.
DELETE FROM auth_token WHERE user_id = :user_id;
