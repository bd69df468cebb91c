-- Event ids stay above every id handed out before a crash of PostgreSQL.
--
-- A transaction id whose transaction never reached the disk (it rolled back, or was
-- still running when PostgreSQL was killed) can be handed out again after a crash.
-- Its events would get ids below ones readers have already passed, and be skipped.
-- So after every start of PostgreSQL, the first event written moves id_shift up by
-- far more transaction ids than a crash can lose (a million).

ALTER TABLE event_horizon ADD COLUMN started_at timestamptz;
UPDATE event_horizon SET started_at = pg_postmaster_start_time();

CREATE OR REPLACE FUNCTION next_event_id() RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    written integer := coalesce(nullif(current_setting('chaat.events_written', true), ''), '0');
    shift bigint;
BEGIN
    IF written >= 1024 THEN
        RAISE EXCEPTION 'one transaction writes at most 1024 events';
    END IF;
    PERFORM set_config('chaat.events_written', (written + 1)::text, true);
    SELECT id_shift INTO shift FROM event_horizon WHERE started_at = pg_postmaster_start_time();
    IF NOT FOUND THEN
        -- The first event since PostgreSQL started: move the ids up, once (whoever
        -- comes second waits for the first's commit, then finds it done).
        UPDATE event_horizon SET id_shift = id_shift + 1000000,
                                 started_at = pg_postmaster_start_time()
        WHERE started_at IS DISTINCT FROM pg_postmaster_start_time();
        SELECT id_shift INTO shift FROM event_horizon;
    END IF;
    RETURN (pg_current_xact_id()::text::bigint + shift) * 1024 + written;
END
$$;
