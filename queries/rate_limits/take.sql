-- name: take(key, burst, period_seconds)$
-- Spend one unit of a key's allowance (take_rate in schema.sql): 0 when spent,
-- else the seconds until one is back.
SELECT take_rate(:key, :burst, make_interval(secs => :period_seconds));
