"""login_failure: recent failed logins, to slow down password guessing."""

from __future__ import annotations

from asyncpg import Connection

from chaat.db import queries


async def create(conn: Connection, *, username: str, window_seconds: int) -> None:
    await queries.login_failures.create(
        conn, username=username, window_seconds=float(window_seconds)
    )


async def get_retry_after(
    conn: Connection, *, username: str, attempts: int, window_seconds: int
) -> int | None:
    return await queries.login_failures.get_retry_after(  # type: ignore[no-any-return]
        conn, username=username, attempts=attempts, window_seconds=float(window_seconds)
    )


async def delete(conn: Connection, *, username: str) -> None:
    await queries.login_failures.delete(conn, username=username)
