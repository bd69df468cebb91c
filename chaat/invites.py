"""Invite codes, for CHAAT_REGISTRATION=invite: made by `chaat admin invite` or by an
administrator (POST /v1/invites), each use taken by a signup (users.sign_up)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import asyncpg

from chaat import db, errors, store
from chaat.auth import Caller

JSON = dict[str, Any]

USES = 1
EXPIRES_IN = 7 * 24 * 3600
"""The defaults: one use, for a week."""
MOST_USES = 1_000_000
LONGEST_EXPIRES_IN = 10 * 365 * 24 * 3600


def code_hash(code: str) -> bytes:
    """What the database keeps of a code (a leaked table lets no one sign up)."""
    return hashlib.sha256(code.encode()).digest()


async def create(pool: asyncpg.Pool, *, uses: int, expires_in: int, created_by: int | None) -> JSON:
    """A new code: {code, uses_left, expires_at}. The code is shown this once."""
    code = secrets.token_urlsafe(16)
    async with db.connection(pool) as conn:
        made = await store.invites.create(
            conn,
            code_hash=code_hash(code),
            uses=uses,
            expires_in=expires_in,
            created_by=created_by,
        )
    return {"code": code, "uses_left": made["uses_left"], "expires_at": made["expires_at"]}


async def create_as(pool: asyncpg.Pool, me: Caller, *, uses: int, expires_in: int) -> JSON:
    """A new code, made by an administrator."""
    if not me.is_admin:
        raise errors.Forbidden("Only administrators make invite codes.")
    return await create(pool, uses=uses, expires_in=expires_in, created_by=me.id)
