-- name: give_back(key, period_seconds)!
-- Return one unit spent on something that turned out not to count.
UPDATE rate_limit SET tat = tat - make_interval(secs => :period_seconds) WHERE key = :key;
