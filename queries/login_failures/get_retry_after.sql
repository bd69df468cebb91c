-- name: get_retry_after(username, attempts, window_seconds)$
-- Seconds until a username may try again: null while it has had fewer than
-- `attempts` failures in the window, else until the oldest of them leaves it.
SELECT CASE WHEN count(*) >= :attempts THEN
           greatest(1, ceil(extract(epoch FROM
               min(failed_at) + make_interval(secs => :window_seconds) - now())))::int
       END
FROM (SELECT failed_at FROM login_failure
      WHERE username_key = lower(:username)
        AND failed_at > now() - make_interval(secs => :window_seconds)
      ORDER BY failed_at DESC
      LIMIT :attempts) recent;
