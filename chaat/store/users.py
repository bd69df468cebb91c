"""app_user: accounts."""

from __future__ import annotations

import builtins
from typing import Any, cast

from asyncpg import Connection, Record

from chaat.db import queries

JSON = dict[str, Any]


async def create(
    conn: Connection, *, username: str, display_name: str, password_hash: str
) -> Record:
    return await queries.users.create(
        conn, username=username, display_name=display_name, password_hash=password_hash
    )


async def get_by_id(conn: Connection, *, id: int) -> Record | None:
    return await queries.users.get_by_id(conn, id=id)


async def get_by_username(conn: Connection, *, username: str) -> Record | None:
    return await queries.users.get_by_username(conn, username=username)


async def get_credentials(conn: Connection, *, username: str) -> Record | None:
    return await queries.users.get_credentials(conn, username=username)


async def get_password_hash(conn: Connection, *, id: int) -> str | None:
    # A `$` query answers one column's value, which aiosql cannot type.
    return cast(str | None, await queries.users.get_password_hash(conn, id=id))


# builtins.list: inside this module, `list` is the function below.
async def list(conn: Connection, *, prefix: str, after: int, limit: int) -> builtins.list[JSON]:
    return [
        row["json"]
        async for row in queries.users.list(conn, prefix=prefix, after=after, limit=limit)
    ]


async def set_password_hash(conn: Connection, *, id: int, password_hash: str) -> None:
    await queries.users.set_password_hash(conn, id=id, password_hash=password_hash)


async def set_admin(conn: Connection, *, username: str, is_admin: bool) -> int | None:
    # A `$` query answers one column's value, which aiosql cannot type.
    return cast(
        int | None, await queries.users.set_admin(conn, username=username, is_admin=is_admin)
    )
