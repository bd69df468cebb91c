"""message: what was said, numbered by seq within each chat."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection, Record

from chaat.db import JsonText, queries

JSON = dict[str, Any]


async def create(
    conn: Connection, *, chat_id: int, sender_id: int, body: str, client_id: str | None
) -> Record:
    return await queries.messages.create(
        conn, chat_id=chat_id, sender_id=sender_id, body=body, client_id=client_id
    )


async def get_by_client_id(
    conn: Connection, *, chat_id: int, sender_id: int, client_id: str
) -> Record | None:
    return await queries.messages.get_by_client_id(
        conn, chat_id=chat_id, sender_id=sender_id, client_id=client_id
    )


async def list_before(conn: Connection, *, chat_id: int, before: int, limit: int) -> list[JsonText]:
    """Newest first."""
    rows = queries.messages.list_before(conn, chat_id=chat_id, before=before, limit=limit)
    return [row["json"] async for row in rows]


async def list_after(conn: Connection, *, chat_id: int, after: int, limit: int) -> list[JsonText]:
    """Oldest first."""
    rows = queries.messages.list_after(conn, chat_id=chat_id, after=after, limit=limit)
    return [row["json"] async for row in rows]
