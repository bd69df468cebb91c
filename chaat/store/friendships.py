"""friendship: one row per pair of friends."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection

from chaat.db import queries

JSON = dict[str, Any]


async def create(conn: Connection, *, user_a: int, user_b: int) -> None:
    await queries.friendships.create(conn, user_a=user_a, user_b=user_b)


async def exists(conn: Connection, *, user_a: int, user_b: int) -> bool:
    return bool(await queries.friendships.exists(conn, user_a=user_a, user_b=user_b))


async def delete(conn: Connection, *, user_a: int, user_b: int) -> bool:
    return bool(await queries.friendships.delete(conn, user_a=user_a, user_b=user_b))


async def list_for_user(conn: Connection, *, user_id: int) -> list[JSON]:
    return [dict(row) async for row in queries.friendships.list_for_user(conn, user_id=user_id)]
