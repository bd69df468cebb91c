-- name: delete(username)!
-- A successful login clears the username's failures.
DELETE FROM login_failure WHERE username_key = lower(:username);
