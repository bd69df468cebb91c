"""message: what was said, numbered by seq within each chat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncpg import Connection, Record

from chaat.db import JsonText, queries

if TYPE_CHECKING:
    from chaat.limits import Terms

JSON = dict[str, Any]


async def send(
    conn: Connection,
    *,
    chat_id: int,
    sender_id: int,
    body: str,
    client_id: str | None,
    reply_to: int | None,
) -> Record:
    """outcome (sent, repeated, client_id_conflict, bad_reply_to, not_found, not_friends),
    message, stranger."""
    return await queries.messages.send(
        conn,
        chat_id=chat_id,
        sender_id=sender_id,
        body=body,
        client_id=client_id,
        reply_to=reply_to,
    )


async def send_many(
    conn: Connection,
    *,
    chat_ids: list[int],
    sender_ids: list[int],
    bodies: list[str],
    client_ids: list[str | None],
    reply_tos: list[int | None],
    rates: list[Terms | None],
) -> list[Record]:
    """Sends, to one chat or several (each chat's next to each other), in one statement,
    answered in order as send() answers, with wait (> 0: the sender's rate limit was
    spent, and nothing was sent)."""
    rows = queries.messages.send_many(
        conn,
        chat_ids=chat_ids,
        sender_ids=sender_ids,
        bodies=bodies,
        client_ids=client_ids,
        reply_tos=reply_tos,
        rate_keys=[None if rate is None else rate.key for rate in rates],
        bursts=[None if rate is None else rate.burst for rate in rates],
        period_seconds=[None if rate is None else rate.period_seconds for rate in rates],
    )
    return [row async for row in rows]


async def get(conn: Connection, *, chat_id: int, seq: int, user_id: int) -> JsonText | None:
    """None when there is no such message or user_id does not take part in the chat."""
    return await queries.messages.get(  # type: ignore[no-any-return]
        conn, chat_id=chat_id, seq=seq, user_id=user_id
    )


async def edit(conn: Connection, *, chat_id: int, seq: int, user_id: int, body: str) -> Record:
    """outcome (edited, not_found, forbidden, not_friends, message_deleted), message, stranger."""
    return await queries.messages.edit(conn, chat_id=chat_id, seq=seq, user_id=user_id, body=body)


async def delete(conn: Connection, *, chat_id: int, seq: int, user_id: int) -> str:
    """deleted, unchanged (a tombstone already), not_found or forbidden."""
    return await queries.messages.delete(  # type: ignore[no-any-return]
        conn, chat_id=chat_id, seq=seq, user_id=user_id
    )


async def list_before(
    conn: Connection, *, chat_id: int, user_id: int, before: int, limit: int
) -> list[JsonText] | None:
    """Newest first; None when user_id does not take part in the chat."""
    row = await queries.messages.list_before(
        conn, chat_id=chat_id, user_id=user_id, before=before, limit=limit
    )
    return row["page"] if row["allowed"] else None


async def list_after(
    conn: Connection, *, chat_id: int, user_id: int, after: int, limit: int
) -> list[JsonText] | None:
    """Oldest first; None when user_id does not take part in the chat."""
    row = await queries.messages.list_after(
        conn, chat_id=chat_id, user_id=user_id, after=after, limit=limit
    )
    return row["page"] if row["allowed"] else None


async def search(
    conn: Connection, *, user_id: int, chat_id: int | None, q: str, before: int, limit: int
) -> list[JsonText] | None:
    """Newest first; None when chat_id is given and user_id does not take part in it."""
    row = await queries.messages.search(
        conn, user_id=user_id, chat_id=chat_id, q=q, before=before, limit=limit
    )
    return row["page"] if row["allowed"] else None
