-- name: list_settled(after, user_ids, limit)
-- For the dispatcher, in one statement: on every row, `settled` and `unsettled` (as
-- get_position() has them), then the first `limit` events after id `after` and below
-- `settled`, each with those of user_ids (the users connected to this process) it is
-- meant for, and its data only when it is meant for one of them; one row with no
-- event when there is none. One snapshot serves both: every transaction below
-- `settled` ended before it, so its events are in it.
WITH p AS MATERIALIZED (
    SELECT s.settled, ARRAY(SELECT id FROM event WHERE id >= s.settled ORDER BY id) AS unsettled
    FROM (SELECT settled_event_id() AS settled) AS s),
batch AS (
    SELECT b.*,
           CASE WHEN b.user_id IS NOT NULL THEN
               CASE WHEN b.user_id = ANY(:user_ids::bigint[]) THEN ARRAY[b.user_id] ELSE '{}' END
           ELSE ARRAY(
               SELECT cm.user_id FROM chat_membership cm
               WHERE cm.chat_sesh_id = b.chat_sesh_id
                 AND cm.user_id = ANY(:user_ids::bigint[])
                 AND cm.from_event_id <= b.id
                 AND (cm.until_event_id IS NULL OR cm.until_event_id >= b.id))
           END AS recipients
    FROM event b
    WHERE b.id > :after AND b.id < (SELECT settled FROM p)
    ORDER BY b.id
    LIMIT :limit)
SELECT p.settled, p.unsettled,
       b.id, b.type, coalesce(b.data, m.api_json)::text AS data, b.recipients
FROM p
LEFT JOIN batch b ON true
LEFT JOIN message m ON m.id = b.message_id AND b.recipients <> '{}'
ORDER BY b.id;
