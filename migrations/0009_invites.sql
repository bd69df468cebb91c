-- Invite-only registration (contract 1.1): CHAAT_REGISTRATION=invite asks every signup
-- for an invite code. A code is kept only as its SHA-256, like a token; a signup takes
-- one use in its own transaction, so two signups racing for the last use cannot both
-- have it, and a signup that fails gives its use back.

CREATE TABLE invite (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_hash  bytea NOT NULL,
    uses_left  integer NOT NULL,
    expires_at timestamptz NOT NULL,
    -- NULL: made by `chaat admin invite`.
    created_by bigint REFERENCES app_user (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invite_code_hash_key UNIQUE (code_hash),
    CONSTRAINT invite_uses_left_not_negative CHECK (uses_left >= 0),
    CONSTRAINT invite_expires_after_creation CHECK (expires_at > created_at)
);
