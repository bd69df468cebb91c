-- name: count_listeners(names)$
-- How many server processes listen on this database: LISTEN connections by their
-- names (chaat.bus.LISTENER_NAME and IDLE_LISTENER_NAME). `chaat admin` waits for
-- each to confirm a revocation.
SELECT count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND application_name = ANY(:names::text[]);
