"""auth_token: sessions behind the signed tokens."""

from __future__ import annotations

from asyncpg import Connection, Record

from chaat.db import queries


async def create(conn: Connection, *, user_id: int, ttl_seconds: int) -> Record:
    return await queries.tokens.create(conn, user_id=user_id, ttl_seconds=float(ttl_seconds))


async def get_user(conn: Connection, *, token_id: int) -> Record | None:
    return await queries.tokens.get_user(conn, token_id=token_id)


async def delete(conn: Connection, *, id: int) -> None:
    await queries.tokens.delete(conn, id=id)


async def delete_all_for_user(conn: Connection, *, user_id: int) -> None:
    await queries.tokens.delete_all_for_user(conn, user_id=user_id)


async def delete_others_for_user(conn: Connection, *, user_id: int, keep_id: int) -> None:
    await queries.tokens.delete_others_for_user(conn, user_id=user_id, keep_id=keep_id)


async def list_live(conn: Connection, *, ids: list[int]) -> set[int]:
    return {row["id"] async for row in queries.tokens.list_live(conn, ids=ids)}
