"""Sending and reading messages, and read markers."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg import Connection

from chaat import access, db, errors, events, store, users
from chaat.auth import Caller
from chaat.db import JsonText
from chaat.validation import MAX_ID

JSON = dict[str, Any]


async def append(
    conn: Connection, me: Caller, chat_id: int, *, body: str, client_id: str | None
) -> tuple[JSON, list[events.Event]]:
    """Store a message in a chat the caller may write to: (message, the events to publish).

    A retried client_id answers the first message and no event.

    Runs inside the caller's transaction, under the chat's lock, so membership
    is checked against committed changes and a retried client_id finds the first send.
    """
    chat = await access.locked_chat(conn, me, chat_id)
    if chat["kind"] == "direct":
        other = chat["direct_high"] if chat["direct_low"] == me.id else chat["direct_low"]
        if not await store.friendships.exists(conn, user_a=me.id, user_b=other):
            raise access.not_friends([await _username(conn, other)], field="chat")
    if client_id is not None:
        earlier = await store.messages.get_by_client_id(
            conn, chat_id=chat_id, sender_id=me.id, client_id=client_id
        )
        if earlier is not None:
            if earlier["body"] != body:
                raise errors.ClientIdConflict()
            return earlier["json"], []
    message = await store.messages.create(
        conn, chat_id=chat_id, sender_id=me.id, body=body, client_id=client_id
    )
    return message["json"], [events.to_chat(chat_id, "message.created", message["json"])]


async def _username(conn: Connection, user_id: int) -> str:
    user = await store.users.get_by_id(conn, id=user_id)
    return user["username"] if user else str(user_id)


async def send(
    pool: asyncpg.Pool, me: Caller, *, chat_id: int, body: str, client_id: str | None
) -> tuple[JSON, bool]:
    """Send to a chat: (message, whether it is new; a retried client_id is not)."""
    async with db.transaction(pool) as conn:
        message, news = await append(conn, me, chat_id, body=body, client_id=client_id)
        await events.publish(conn, *news)
        return message, bool(news)


async def send_to_user(
    pool: asyncpg.Pool, me: Caller, *, user: int | str, body: str, client_id: str | None
) -> tuple[JSON, bool]:
    """Send to a friend's direct chat, creating the chat first if needed, in one transaction."""
    async with db.transaction(pool) as conn:
        other = await users.find(conn, user)
        await access.require_friends(conn, me, [other], field="user")
        chat_id, chat_created = await access.direct_chat(conn, me, other["id"])
        message, news = await append(conn, me, chat_id, body=body, client_id=client_id)
        announce = [await access.chat_created_event(conn, chat_id)] if chat_created else []
        await events.publish(conn, *announce, *news)
        return message, bool(news)


async def history(
    pool: asyncpg.Pool,
    me: Caller,
    *,
    chat_id: int,
    limit: int,
    before: int | None,
    after: int | None,
) -> tuple[list[JsonText], bool]:
    """A page of a chat's messages, oldest first, and whether more lie beyond it."""
    async with db.connection(pool) as conn:
        await access.participant_chat(conn, me, chat_id)
        if after is not None:
            items = await store.messages.list_after(
                conn, chat_id=chat_id, after=after, limit=limit + 1
            )
            return items[:limit], len(items) > limit
        newest_first = await store.messages.list_before(
            conn, chat_id=chat_id, before=MAX_ID if before is None else before, limit=limit + 1
        )
    return newest_first[:limit][::-1], len(newest_first) > limit


async def mark_read(pool: asyncpg.Pool, me: Caller, *, chat_id: int, seq: int) -> None:
    """Move the caller's read marker forward to seq (at most the chat's last message)."""
    async with db.connection(pool) as conn:
        await access.participant_chat(conn, me, chat_id)
        await store.participants.mark_read(conn, chat_id=chat_id, user_id=me.id, seq=seq)
