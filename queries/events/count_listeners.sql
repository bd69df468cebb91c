-- name: count_listeners(names, except_pids)$
-- How many server processes listen on this database: LISTEN connections named one of
-- `names` (chaat.bus.LISTENER_NAME, IDLE_LISTENER_NAME), other than the backends
-- except_pids. The Postgres bus wakes nobody when no other process has streams (our
-- sibling workers hear from us directly); `chaat admin` waits for each to confirm a
-- revocation.
SELECT count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND application_name = ANY(:names::text[])
  AND pid <> ALL(:except_pids::int[]);
