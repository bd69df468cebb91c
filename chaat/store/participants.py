"""chat_participant: who is in which chat, and how far they have read."""

from __future__ import annotations

import builtins
from typing import Any

from asyncpg import Connection

from chaat.db import queries

JSON = dict[str, Any]


async def add(conn: Connection, *, chat_id: int, user_id: int) -> None:
    await queries.participants.add(conn, chat_id=chat_id, user_id=user_id)


async def add_many(conn: Connection, *, chat_id: int, user_ids: builtins.list[int]) -> None:
    await queries.participants.add_many(conn, chat_id=chat_id, user_ids=user_ids)


async def count(conn: Connection, *, chat_id: int) -> int:
    return await queries.participants.count(conn, chat_id=chat_id)  # type: ignore[no-any-return]


async def exists(conn: Connection, *, chat_id: int, user_id: int) -> bool:
    return bool(await queries.participants.exists(conn, chat_id=chat_id, user_id=user_id))


async def remove(conn: Connection, *, chat_id: int, user_id: int) -> bool:
    return bool(await queries.participants.remove(conn, chat_id=chat_id, user_id=user_id))


# `list` is this module's query; builtins.list is the type.
async def list(conn: Connection, *, chat_id: int) -> builtins.list[JSON]:
    return [dict(row) async for row in queries.participants.list(conn, chat_id=chat_id)]


async def mark_read(conn: Connection, *, chat_id: int, user_id: int, seq: int) -> str:
    """moved (and chat.read recorded), unchanged or not_found."""
    return await queries.participants.mark_read(  # type: ignore[no-any-return]
        conn, chat_id=chat_id, user_id=user_id, seq=seq
    )


async def list_chat_ids(
    conn: Connection, *, user_ids: builtins.list[int]
) -> dict[int, builtins.list[int]]:
    rows = queries.participants.list_chat_ids(conn, user_ids=user_ids)
    return {row["user_id"]: row["chat_ids"] async for row in rows}
