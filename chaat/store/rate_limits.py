"""rate_limit: how much of each limited key's allowance is spent (chaat/limits.py)."""

from __future__ import annotations

from asyncpg import Connection

from chaat.db import queries


async def take(conn: Connection, *, key: str, burst: int, period_seconds: float) -> float:
    return await queries.rate_limits.take(  # type: ignore[no-any-return]
        conn, key=key, burst=burst, period_seconds=period_seconds
    )


async def give_back(conn: Connection, *, key: str, period_seconds: float) -> None:
    await queries.rate_limits.give_back(conn, key=key, period_seconds=period_seconds)


async def delete(conn: Connection, *, key: str) -> None:
    await queries.rate_limits.delete(conn, key=key)


async def prune(conn: Connection) -> None:
    await queries.rate_limits.prune(conn)
