-- Rate limits (chaat/limits.py): one row per limited key ("login:alice@192.0.2.7",
-- "message:42"...), holding the key's theoretical arrival time (GCRA): the moment its
-- allowance is back to full. take_rate() spends one unit in one statement, under the
-- row's lock, so N parallel requests cannot pass a limit of n < N; a row whose time is
-- past is the same as no row, and the hub prunes them. UNLOGGED: no WAL for counters a
-- crash may reset. It replaces login_failure, which counted after the password check
-- (so parallel guesses all passed) and never forgot unknown usernames.

DROP TABLE login_failure;

CREATE UNLOGGED TABLE rate_limit (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);

-- Spend one of `burst` units that come back one per `period`: 0 when spent, else the
-- seconds until one is back (nothing is spent then).
CREATE FUNCTION take_rate(p_key text, p_burst integer, p_period interval)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    v_tat timestamptz;
BEGIN
    INSERT INTO rate_limit AS r (key, tat) VALUES (p_key, now() + p_period)
    ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, now()) + p_period
        WHERE greatest(r.tat, now()) + p_period <= now() + p_burst * p_period;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT tat INTO v_tat FROM rate_limit WHERE key = p_key;
    RETURN greatest(extract(epoch FROM v_tat + p_period - p_burst * p_period - now()), 0.001);
END
$$;
