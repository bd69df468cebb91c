-- name: get_user(token_id)^
-- The user behind a live token; none once it is revoked or expired.
SELECT u.id, u.username, u.is_admin, user_json(u) AS json, t.expires_at
FROM auth_token t
JOIN app_user u ON u.id = t.user_id
WHERE t.id = :token_id AND t.expires_at > now();
