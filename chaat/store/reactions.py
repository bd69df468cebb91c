"""message_emoji and reaction: who reacted to which message with what."""

from __future__ import annotations

from asyncpg import Connection, Record

from chaat.db import queries


async def add(conn: Connection, *, chat_id: int, seq: int, user_id: int, emoji: str) -> Record:
    """outcome (changed, unchanged, not_found, not_friends, message_deleted,
    too_many_reactions), message, stranger."""
    return await queries.reactions.set(
        conn, chat_id=chat_id, seq=seq, user_id=user_id, emoji=emoji, add=True
    )


async def remove(conn: Connection, *, chat_id: int, seq: int, user_id: int, emoji: str) -> Record:
    """outcome (changed, unchanged, not_found), message."""
    return await queries.reactions.set(
        conn, chat_id=chat_id, seq=seq, user_id=user_id, emoji=emoji, add=False
    )
