-- The SQL functions that PostgreSQL cannot inline (their query has a FROM) become
-- PL/pgSQL, which keeps each query's plan for the session. Before PostgreSQL 18, an
-- SQL function plans its query again on every call: on PostgreSQL 15, 260 µs for
-- settled_event_id() (every read of the dispatcher's, every stream's start), 365 µs
-- for chat_json() (every chat of a list); as PL/pgSQL, 35 and 80. On 18 both cost
-- the same. Same results, same volatility.

CREATE OR REPLACE FUNCTION settled_event_id() RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (
        SELECT (least(
            pg_snapshot_xmax(s)::text::bigint,
            (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
             WHERE x::xid NOT IN (
                 SELECT backend_xid FROM pg_stat_activity
                 WHERE backend_xid IS NOT NULL
                   AND (datname IS DISTINCT FROM current_database()
                        OR backend_type <> 'client backend'))))
            + (SELECT id_shift FROM event_horizon)) * 1024
        FROM pg_current_snapshot() AS s);
END
$$;

CREATE OR REPLACE FUNCTION friend_request_json(r friend_request) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'id', r.id,
            'from', (SELECT user_json(u) FROM app_user u WHERE u.id = r.from_user_id),
            'to', (SELECT user_json(u) FROM app_user u WHERE u.id = r.to_user_id),
            'status', r.status,
            'created_at', rfc3339(r.created_at),
            'responded_at', rfc3339(r.responded_at)));
END
$$;

CREATE OR REPLACE FUNCTION chat_json(c chat_sesh, viewer_id bigint) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'id', c.id, 'kind', c.kind, 'name', c.name, 'created_by', c.created_by,
            'created_at', rfc3339(c.created_at),
            'participants', (SELECT coalesce(json_agg(user_json(u) ORDER BY u.id), '[]')
                             FROM chat_participant p JOIN app_user u ON u.id = p.user_id
                             WHERE p.chat_sesh_id = c.id),
            'last_message', (SELECT message_json(m, s)
                             FROM message m JOIN app_user s ON s.id = m.sender_id
                             WHERE m.chat_sesh_id = c.id AND m.seq = c.last_seq
                               AND (viewer_id IS NULL OR me.user_id IS NOT NULL)),
            'unread_count', coalesce((SELECT count(*) FROM message m
                                      WHERE m.chat_sesh_id = c.id AND m.seq > me.last_read_seq
                                        AND m.sender_id <> viewer_id), 0))
        FROM (SELECT NULL) AS dummy
        LEFT JOIN chat_participant me ON me.chat_sesh_id = c.id AND me.user_id = viewer_id);
END
$$;

CREATE OR REPLACE FUNCTION reactions_json(p_message_id bigint) RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT coalesce(json_agg(json_build_object(
                   'emoji', e.emoji,
                   'user_ids', (SELECT json_agg(r.user_id ORDER BY r.id) FROM reaction r
                                WHERE r.message_id = e.message_id AND r.emoji = e.emoji))
               ORDER BY e.id), '[]')
        FROM message_emoji e
        WHERE e.message_id = p_message_id);
END
$$;
