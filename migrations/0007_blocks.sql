-- Blocking (contract 1.1): while either of two users blocks the other, no friend
-- request passes between them and neither writes in their direct chat.

CREATE TABLE user_block (
    blocker_id bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    blocked_id bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    since      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_block_pkey PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT user_block_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX user_block_blocked ON user_block (blocked_id);

-- Whether the two sides of a direct chat may still write to each other; else the
-- outcome (blocked: either blocks the other; not_friends) and the other side's username.
CREATE OR REPLACE FUNCTION direct_chat_refusal(
    c chat_sesh, p_user_id bigint, OUT outcome text, OUT stranger text)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF c.kind <> 'direct' THEN
        RETURN;
    END IF;
    IF EXISTS (
        SELECT FROM user_block
        WHERE (blocker_id, blocked_id) IN ((c.direct_low, c.direct_high),
                                           (c.direct_high, c.direct_low))
    ) THEN
        outcome := 'blocked';
    ELSIF NOT EXISTS (
        SELECT FROM friendship WHERE user_low = c.direct_low AND user_high = c.direct_high
    ) THEN
        outcome := 'not_friends';
        SELECT username INTO stranger FROM app_user
        WHERE id = c.direct_low + c.direct_high - p_user_id;
    END IF;
END
$$;
