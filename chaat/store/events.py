"""event, chat_membership and event_horizon: the durable stream behind /v1/events."""

from __future__ import annotations

from typing import Any

from asyncpg import Connection, Record

from chaat.db import queries


async def create(
    conn: Connection, *, user_id: int | None, chat_id: int | None, type: str, data: Any
) -> int:
    return await queries.events.create(  # type: ignore[no-any-return]
        conn, user_id=user_id, chat_id=chat_id, type=type, data=data
    )


async def notify_many(conn: Connection, *, channels: list[str], payloads: list[str]) -> None:
    await queries.events.notify_many(conn, channels=channels, payloads=payloads)


async def count_listeners(
    conn: Connection, *, names: list[str], except_pids: list[int] | None = None
) -> int:
    return await queries.events.count_listeners(  # type: ignore[no-any-return]
        conn, names=names, except_pids=except_pids or []
    )


async def name_connection(conn: Connection, *, name: str) -> None:
    await queries.events.name_connection(conn, name=name)


async def list_settled(
    conn: Connection, *, after: int, user_ids: list[int], limit: int
) -> list[Record]:
    rows = queries.events.list_settled(conn, after=after, user_ids=user_ids, limit=limit)
    return [row async for row in rows]


async def list_for_user(
    conn: Connection, *, user_id: int, after: int, through: int, limit: int
) -> list[Record]:
    rows = queries.events.list_for_user(
        conn, user_id=user_id, after=after, through=through, limit=limit
    )
    return [row async for row in rows]


async def get_horizon(conn: Connection) -> int:
    return await queries.events.get_horizon(conn)  # type: ignore[no-any-return]


async def get_position(conn: Connection) -> Record:
    """settled (every event below it is known), unsettled (committed ids above it), last,
    pruned_through."""
    return await queries.events.get_position(conn)


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
