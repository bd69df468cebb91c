-- name: other_listeners(name, own_pid)$
-- Whether another server process listens on this database: a LISTEN connection named
-- `name` (chaat.bus.LISTENER_NAME) other than ours, own_pid. A process alone on its
-- database need not wake anyone after its commits.
SELECT EXISTS (
    SELECT FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = :name AND pid <> :own_pid);
