"""message: what was said, numbered by seq within each chat."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection, Record

from chaat.db import JsonText, queries

JSON = dict[str, Any]


async def send(
    conn: Connection, *, chat_id: int, sender_id: int, body: str, client_id: str | None
) -> Record:
    """outcome (sent, repeated, client_id_conflict, not_found, not_friends), message, stranger."""
    return await queries.messages.send(
        conn, chat_id=chat_id, sender_id=sender_id, body=body, client_id=client_id
    )


async def list_before(conn: Connection, *, chat_id: int, before: int, limit: int) -> list[JsonText]:
    """Newest first."""
    rows = queries.messages.list_before(conn, chat_id=chat_id, before=before, limit=limit)
    return [row["json"] async for row in rows]


async def list_after(conn: Connection, *, chat_id: int, after: int, limit: int) -> list[JsonText]:
    """Oldest first."""
    rows = queries.messages.list_after(conn, chat_id=chat_id, after=after, limit=limit)
    return [row["json"] async for row in rows]
