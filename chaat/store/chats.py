"""chat_sesh: direct and group chats."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection, Record

from chaat.db import JsonText, queries

JSON = dict[str, Any]


async def create_group(conn: Connection, *, name: str | None, created_by: int) -> int:
    return await queries.chats.create_group(conn, name=name, created_by=created_by)  # type: ignore[no-any-return]


async def create_direct(
    conn: Connection, *, user_a: int, user_b: int, created_by: int
) -> int | None:
    return await queries.chats.create_direct(  # type: ignore[no-any-return]
        conn, user_a=user_a, user_b=user_b, created_by=created_by
    )


async def get_direct(conn: Connection, *, user_a: int, user_b: int) -> int | None:
    return await queries.chats.get_direct(conn, user_a=user_a, user_b=user_b)  # type: ignore[no-any-return]


async def get(conn: Connection, *, id: int, user_id: int) -> Record | None:
    return await queries.chats.get(conn, id=id, user_id=user_id)


async def get_json(conn: Connection, *, id: int, viewer_id: int | None) -> JSON:
    """The chat as viewer_id sees it; None for the view events carry."""
    return await queries.chats.get_json(conn, id=id, viewer_id=viewer_id)  # type: ignore[no-any-return]


async def list_for_user(
    conn: Connection, *, user_id: int, with_user_id: int | None
) -> list[JsonText]:
    rows = queries.chats.list_for_user(conn, user_id=user_id, with_user_id=with_user_id)
    return [row["json"] async for row in rows]


async def list_all(conn: Connection, *, viewer_id: int, with_user_id: int | None) -> list[JsonText]:
    rows = queries.chats.list_all(conn, viewer_id=viewer_id, with_user_id=with_user_id)
    return [row["json"] async for row in rows]


async def rename(conn: Connection, *, id: int, name: str | None) -> None:
    await queries.chats.rename(conn, id=id, name=name)


async def lock(conn: Connection, *, id: int) -> None:
    await queries.chats.lock(conn, id=id)


async def get_typing_audience(conn: Connection, *, chat_id: int, user_id: int) -> Record | None:
    """outcome (None, blocked or not_friends), stranger, audience (the other participants);
    None when there is no such chat or user_id does not take part in it."""
    return await queries.chats.get_typing_audience(conn, chat_id=chat_id, user_id=user_id)
