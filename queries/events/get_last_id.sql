-- name: get_last_id()$
-- Where the stream stands now; a dispatcher starting up follows it from here.
SELECT coalesce(max(id), 0) FROM event;
