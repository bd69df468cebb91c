-- name: get_horizon()$
-- The highest event id pruned so far.
SELECT pruned_through FROM event_horizon;
