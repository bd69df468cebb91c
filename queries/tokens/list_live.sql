-- name: list_live(ids)
-- Which of these tokens still work; open event streams of the others are closed.
SELECT id FROM auth_token WHERE id = ANY(:ids::bigint[]) AND expires_at > now();
