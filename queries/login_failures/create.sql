-- name: create(username, window_seconds)!
-- Count a failed login against a username, forgetting its failures past the window.
WITH forgotten AS (
    DELETE FROM login_failure
    WHERE username_key = lower(:username)
      AND failed_at < now() - make_interval(secs => :window_seconds))
INSERT INTO login_failure (username_key) VALUES (lower(:username));
