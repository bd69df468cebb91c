-- Search (contract 1.1): a message matches when every word of the query starts a word
-- of its body, letters compared case-insensitively. A word is a run of letters and
-- digits: the body is cut into words by that rule, and the words kept in body_words,
-- a tsvector of the language-neutral 'simple' configuration with a GIN index, so that
-- a search reads the index, not every message. A tombstone has no words.

CREATE FUNCTION message_words(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g')) $$;

ALTER TABLE message ADD COLUMN body_words tsvector GENERATED ALWAYS AS (message_words(body)) STORED;
CREATE INDEX message_body_words ON message USING gin (body_words);
