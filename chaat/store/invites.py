"""invite: the codes that let people sign up when registration is by invitation."""

from __future__ import annotations

from asyncpg import Connection, Record

from chaat.db import queries


async def create(
    conn: Connection, *, code_hash: bytes, uses: int, expires_in: int, created_by: int | None
) -> Record:
    """uses_left and expires_at (RFC 3339)."""
    return await queries.invites.create(
        conn, code_hash=code_hash, uses=uses, expires_in=expires_in, created_by=created_by
    )


async def use(conn: Connection, *, code_hash: bytes) -> bool:
    """Whether a use was taken (the code exists, has uses left and has not expired)."""
    return bool(await queries.invites.use(conn, code_hash=code_hash))
