-- name: notify(channel, payload)$
-- Wake every server process's listener; PostgreSQL delivers it only if and
-- when the transaction commits. The payload stays tiny (the 8000-byte limit):
-- listeners read the events themselves.
SELECT pg_notify(:channel, :payload);
