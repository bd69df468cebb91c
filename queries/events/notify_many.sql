-- name: notify_many(channels, payloads)$
-- Wake every server process's listener: sent after the writes committed, on its own
-- (never inside a write transaction, whose commit would then take PostgreSQL's
-- notification lock), many wake-ups in one statement. Payloads stay tiny.
SELECT count(pg_notify(channel, payload))
FROM unnest(:channels::text[], :payloads::text[]) AS t(channel, payload);
