-- name: lock_clock()$
-- Taken by every transaction just before it writes events, and held until it
-- commits: event ids then become visible in id order, which is what lets
-- readers follow the stream with a plain `id > last seen` and never miss one.
SELECT pg_advisory_xact_lock(6516592234089539);
