-- name: get_position()^
-- Where the stream stands: every event below `settled` is committed or will never
-- exist; `unsettled` are the committed events above it (waiting for an earlier
-- transaction to end); `last` is the largest id committed; events up to
-- `pruned_through` are gone.
SELECT p.settled,
       ARRAY(SELECT id FROM event WHERE id >= p.settled ORDER BY id) AS unsettled,
       (SELECT coalesce(max(id), 0) FROM event) AS last,
       (SELECT pruned_through FROM event_horizon) AS pruned_through
FROM (SELECT settled_event_id() AS settled) AS p;
