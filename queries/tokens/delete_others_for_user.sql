-- name: delete_others_for_user(user_id, keep_id)!
-- Revoke every token of a user but the one in use.
DELETE FROM auth_token WHERE user_id = :user_id AND id <> :keep_id;
