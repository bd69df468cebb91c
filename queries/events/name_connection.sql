-- name: name_connection(name)$
-- Rename this connection (its application_name, as pg_stat_activity shows it): a
-- server process's LISTEN connection says so whether the process has open streams
-- (chaat.bus.PostgresBus).
SELECT set_config('application_name', :name, false);
