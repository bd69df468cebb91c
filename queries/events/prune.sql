-- name: prune(retention_seconds)$
-- Drop events older than the retention window and raise the horizon past them;
-- answers how many were dropped.
WITH gone AS (
    DELETE FROM event
    WHERE created_at < now() - make_interval(secs => :retention_seconds)
    RETURNING id),
raised AS (
    UPDATE event_horizon SET pruned_through = greatest(pruned_through, (SELECT max(id) FROM gone))
    WHERE EXISTS (SELECT FROM gone))
SELECT count(*) FROM gone;
