"""event, chat_membership and event_horizon: the durable stream behind /v1/events."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection, Record

from chaat.db import queries


async def lock_clock(conn: Connection) -> None:
    await queries.events.lock_clock(conn)


async def create(
    conn: Connection, *, user_id: int | None, chat_id: int | None, type: str, data: Any
) -> int:
    return await queries.events.create(  # type: ignore[no-any-return]
        conn, user_id=user_id, chat_id=chat_id, type=type, data=data
    )


async def notify(conn: Connection, *, channel: str, payload: str) -> None:
    await queries.events.notify(conn, channel=channel, payload=payload)


async def list_since(
    conn: Connection, *, after: int, user_ids: list[int], limit: int
) -> list[Record]:
    rows = queries.events.list_since(conn, after=after, user_ids=user_ids, limit=limit)
    return [row async for row in rows]


async def list_for_user(conn: Connection, *, user_id: int, after: int, limit: int) -> list[Record]:
    rows = queries.events.list_for_user(conn, user_id=user_id, after=after, limit=limit)
    return [row async for row in rows]


async def get_horizon(conn: Connection) -> int:
    return await queries.events.get_horizon(conn)  # type: ignore[no-any-return]


async def get_last_id(conn: Connection) -> int:
    return await queries.events.get_last_id(conn)  # type: ignore[no-any-return]


async def prune(conn: Connection, *, retention_seconds: int) -> int:
    return await queries.events.prune(  # type: ignore[no-any-return]
        conn, retention_seconds=float(retention_seconds)
    )


async def open_membership(
    conn: Connection, *, chat_id: int, user_ids: list[int], event_id: int
) -> None:
    await queries.chat_membership.open(conn, chat_id=chat_id, user_ids=user_ids, event_id=event_id)


async def close_membership(
    conn: Connection, *, chat_id: int, user_ids: list[int], event_id: int
) -> None:
    await queries.chat_membership.close(conn, chat_id=chat_id, user_ids=user_ids, event_id=event_id)


async def prune_memberships(conn: Connection, *, before_event_id: int) -> None:
    await queries.chat_membership.prune(conn, before_event_id=before_event_id)
