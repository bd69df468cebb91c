-- settled_event_id() reads the snapshot of the statement that calls it. As VOLATILE,
-- a SQL function takes a snapshot of its own, a later one: a statement that both finds
-- the settled id and reads the events below it (queries/events/list_settled.sql) could
-- then count as settled a transaction whose events it cannot see, and skip them.
ALTER FUNCTION settled_event_id() STABLE;
