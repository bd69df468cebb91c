-- name: get_json(id, viewer_id)$
-- One chat as the API shows it to viewer_id.
SELECT chat_json(c, :viewer_id) FROM chat_sesh c WHERE c.id = :id;
