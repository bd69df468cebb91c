"""friend_request: pending, accepted and rejected requests."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection, Record

from chaat.db import queries

JSON = dict[str, Any]


async def lock_pair(conn: Connection, *, user_a: int, user_b: int) -> None:
    await queries.friend_requests.lock_pair(conn, user_a=user_a, user_b=user_b)


async def get_pending(conn: Connection, *, from_user_id: int, to_user_id: int) -> Record | None:
    return await queries.friend_requests.get_pending(
        conn, from_user_id=from_user_id, to_user_id=to_user_id
    )


async def create(conn: Connection, *, from_user_id: int, to_user_id: int) -> Record:
    return await queries.friend_requests.create(
        conn, from_user_id=from_user_id, to_user_id=to_user_id
    )


async def get(conn: Connection, *, id: int) -> Record | None:
    return await queries.friend_requests.get(conn, id=id)


async def respond(conn: Connection, *, id: int, status: str) -> Record | None:
    return await queries.friend_requests.respond(conn, id=id, status=status)


async def delete_pending(conn: Connection, *, id: int) -> bool:
    return bool(await queries.friend_requests.delete_pending(conn, id=id))


async def list_for_user(
    conn: Connection, *, user_id: int, status: str | None, incoming: bool, outgoing: bool
) -> list[JSON]:
    rows = queries.friend_requests.list_for_user(
        conn, user_id=user_id, status=status, incoming=incoming, outgoing=outgoing
    )
    return [row["json"] async for row in rows]


async def delete_pending_between(conn: Connection, *, user_a: int, user_b: int) -> list[Record]:
    """The withdrawn requests: id and to_user_id."""
    rows = queries.friend_requests.delete_pending_between(conn, user_a=user_a, user_b=user_b)
    return [row async for row in rows]
