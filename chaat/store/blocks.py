"""user_block: who blocks whom."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection

from chaat.db import queries

JSON = dict[str, Any]


async def create(conn: Connection, *, blocker_id: int, blocked_id: int) -> bool:
    """Whether the block is new."""
    return bool(await queries.blocks.create(conn, blocker_id=blocker_id, blocked_id=blocked_id))


async def delete(conn: Connection, *, blocker_id: int, blocked_id: int) -> bool:
    """Whether there was a block."""
    return bool(await queries.blocks.delete(conn, blocker_id=blocker_id, blocked_id=blocked_id))


async def exists_between(conn: Connection, *, user_a: int, user_b: int) -> bool:
    """Whether either blocks the other."""
    return bool(await queries.blocks.exists_between(conn, user_a=user_a, user_b=user_b))


async def list_for_user(conn: Connection, *, user_id: int) -> list[JSON]:
    return [dict(row) async for row in queries.blocks.list_for_user(conn, user_id=user_id)]
