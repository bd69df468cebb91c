"""Sending and reading messages, and read markers."""

from __future__ import annotations

import asyncpg
from asyncpg import Connection

from chaat import access, bus, db, errors, events, store, users
from chaat.auth import Caller
from chaat.db import JsonText
from chaat.validation import MAX_ID


async def append(
    conn: Connection, me: Caller, chat_id: int, *, body: str, client_id: str | None
) -> tuple[JsonText, bool]:
    """Store a message in a chat the caller may write to: (message, whether it is new).

    One statement (send_message in schema.sql) takes the chat's lock, checks who may
    write, numbers the message and records its message.created event. A retried
    client_id answers the first message and records nothing.
    """
    sent = await store.messages.send(
        conn, chat_id=chat_id, sender_id=me.id, body=body, client_id=client_id
    )
    if sent["outcome"] == "not_found":
        raise errors.NotFound("No such chat.")
    if sent["outcome"] == "not_friends":
        raise access.not_friends([sent["stranger"]], field="chat")
    if sent["outcome"] == "client_id_conflict":
        raise errors.ClientIdConflict()
    if sent["outcome"] == "sent":
        events.wake_after_commit(conn, [bus.chat_topic(chat_id)])
    return sent["message"], sent["outcome"] == "sent"


async def send(
    pool: asyncpg.Pool, me: Caller, *, chat_id: int, body: str, client_id: str | None
) -> tuple[JsonText, bool]:
    """Send to a chat: (message, whether it is new; a retried client_id is not).

    One round trip: send_message is a statement of its own, hence its own transaction.
    """
    async with db.connection(pool) as conn:
        return await append(conn, me, chat_id, body=body, client_id=client_id)


async def send_to_user(
    pool: asyncpg.Pool, me: Caller, *, user: int | str, body: str, client_id: str | None
) -> tuple[JsonText, bool]:
    """Send to a friend's direct chat, creating the chat first if needed, in one transaction."""
    async with db.transaction(pool) as conn:
        other = await users.find(conn, user)
        await access.require_friends(conn, me, [other], field="user")
        chat_id, _ = await access.direct_chat(conn, me, other["id"])
        return await append(conn, me, chat_id, body=body, client_id=client_id)


async def history(
    pool: asyncpg.Pool,
    me: Caller,
    *,
    chat_id: int,
    limit: int,
    before: int | None,
    after: int | None,
) -> tuple[list[JsonText], bool]:
    """A page of a chat's messages, oldest first, and whether more lie beyond it.

    One round trip: the query checks that the caller takes part (404 otherwise).
    """
    async with db.connection(pool) as conn:
        if after is not None:
            page = await store.messages.list_after(
                conn, chat_id=chat_id, user_id=me.id, after=after, limit=limit + 1
            )
        else:
            page = await store.messages.list_before(
                conn,
                chat_id=chat_id,
                user_id=me.id,
                before=MAX_ID if before is None else before,
                limit=limit + 1,
            )
    if page is None:
        raise errors.NotFound("No such chat.")
    if after is None:
        page.reverse()  # read newest first; answered oldest first
        return page[-limit:], len(page) > limit
    return page[:limit], len(page) > limit


async def mark_read(pool: asyncpg.Pool, me: Caller, *, chat_id: int, seq: int) -> None:
    """Move the caller's read marker forward to seq (at most the chat's last message)."""
    async with db.connection(pool) as conn:
        await access.participant_chat(conn, me, chat_id)
        await store.participants.mark_read(conn, chat_id=chat_id, user_id=me.id, seq=seq)
