-- name: count_listeners(name)$
-- How many server processes listen on this database: LISTEN connections named `name`
-- (chaat.bus.LISTENER_NAME). `chaat admin` waits for each to confirm a revocation.
SELECT count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND application_name = :name;
