"""Chats and their participants. Who may see and change which chat: chaat.access."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg import Connection, Record

from chaat import access, db, errors, events, messages, store, users
from chaat.auth import Caller
from chaat.db import JsonText

JSON = dict[str, Any]


async def list_chats(
    pool: asyncpg.Pool, me: Caller, *, with_user: int | str | None, every: bool
) -> list[JsonText]:
    """The caller's chats (every chat for an administrator who asks), most recent first."""
    async with db.connection(pool) as conn:
        # An unknown user (404) answers before a refused `all` (403), as everywhere.
        with_id = None if with_user is None else (await users.find(conn, with_user))["id"]
        if every and not me.is_admin:
            raise errors.Forbidden("Only administrators may list every chat.")
        if every:
            return await store.chats.list_all(conn, viewer_id=me.id, with_user_id=with_id)
        return await store.chats.list_for_user(conn, user_id=me.id, with_user_id=with_id)


async def get_chat(pool: asyncpg.Pool, me: Caller, *, chat_id: int) -> JSON:
    async with db.connection(pool) as conn:
        await access.participant_chat(conn, me, chat_id, admins_may_read=True)
        return await store.chats.get_json(conn, id=chat_id, viewer_id=me.id)


async def create_chat(
    pool: asyncpg.Pool,
    me: Caller,
    *,
    participants: list[int | str],
    name: str | None,
    kind: str | None,
    message: str | None,
    client_id: str | None,
    max_size: int,
) -> tuple[JSON, bool]:
    """Create a group, or get-or-create a direct chat: (chat, whether it is new).

    The optional first message is sent in the same transaction.
    """
    # Rules of the body alone answer before any participant is looked up (404).
    if kind == "direct" and name is not None:
        raise errors.ValidationError(
            "A direct chat has no name.",
            [{"field": "name", "problem": "not allowed with kind direct"}],
        )
    async with db.transaction(pool) as conn:
        others: dict[int, Record] = {}
        for ref in participants:
            user = await users.find(conn, ref)
            if user["id"] != me.id:
                others[user["id"]] = user
        if kind is None:
            kind = "direct" if len(others) == 1 and name is None else "group"
        if kind == "direct" and len(others) != 1:
            raise errors.ValidationError(
                "A direct chat has exactly one other participant and no name.",
                [{"field": "participants", "problem": "a direct chat needs exactly one other"}],
            )
        await access.require_friends(conn, me, others.values(), field="participants")
        if len(others) + 1 > max_size:
            raise errors.TooManyParticipants(
                f"A group holds at most {max_size} participants.",
                [{"field": "participants", "problem": f"more than {max_size}"}],
            )
        if kind == "direct":
            (other_id,) = others
            chat_id, created = await access.direct_chat(conn, me, other_id)
        else:
            chat_id = await store.chats.create_group(conn, name=name, created_by=me.id)
            await store.participants.add_many(conn, chat_id=chat_id, user_ids=[me.id, *others])
            await access.announce_chat(conn, chat_id)
            created = True
        if message is not None:
            await messages.append(conn, me, chat_id, body=message, client_id=client_id)
        return await store.chats.get_json(conn, id=chat_id, viewer_id=me.id), created


async def rename(pool: asyncpg.Pool, me: Caller, *, chat_id: int, name: str | None) -> JSON:
    """Name a group, or (name None) take its name away."""
    async with db.transaction(pool) as conn:
        access.require_group(await access.locked_chat(conn, me, chat_id))
        await store.chats.rename(conn, id=chat_id, name=name)
        await _publish_update(conn, chat_id)
        return await store.chats.get_json(conn, id=chat_id, viewer_id=me.id)


async def _publish_update(
    conn: Connection, chat_id: int, *, joined: tuple[int, ...] = (), left: tuple[int, ...] = ()
) -> None:
    """chat.updated to the chat's participants, and to whoever just left it."""
    chat = await store.chats.get_json(conn, id=chat_id, viewer_id=None)
    await events.publish(
        conn, events.to_chat(chat_id, "chat.updated", chat, joined=joined, left=left)
    )


async def list_participants(pool: asyncpg.Pool, me: Caller, *, chat_id: int) -> list[JSON]:
    async with db.connection(pool) as conn:
        await access.participant_chat(conn, me, chat_id, admins_may_read=True)
        return await store.participants.list(conn, chat_id=chat_id)


async def add_participant(
    pool: asyncpg.Pool, me: Caller, *, chat_id: int, user: int | str, max_size: int
) -> JSON:
    """Add a friend of the caller to a group the caller is in."""
    async with db.transaction(pool) as conn:
        # Under the chat's lock: two additions cannot both take the last free place.
        chat = await access.locked_chat(conn, me, chat_id)
        newcomer = await users.find(conn, user)
        if newcomer["id"] != me.id:
            if chat["kind"] == "group":
                # Under the pair's lock, so that an unfriending in flight settles first.
                # (Never in a direct chat, refused below anyway: there a pair's lock after
                # the chat's could deadlock with a send, which takes them the other way.)
                await store.friend_requests.lock_pair(conn, user_a=me.id, user_b=newcomer["id"])
            await access.require_friends(conn, me, [newcomer], field="user")
        if await store.participants.exists(conn, chat_id=chat_id, user_id=newcomer["id"]):
            raise errors.AlreadyParticipant()
        access.require_group(chat)
        if await store.participants.count(conn, chat_id=chat_id) >= max_size:
            raise errors.TooManyParticipants(
                f"A group holds at most {max_size} participants.",
                [{"field": "user", "problem": "the group is full", "value": newcomer["username"]}],
            )
        await store.participants.add(conn, chat_id=chat_id, user_id=newcomer["id"])
        await _publish_update(conn, chat_id, joined=(newcomer["id"],))
        return await store.chats.get_json(conn, id=chat_id, viewer_id=me.id)


async def remove_participant(pool: asyncpg.Pool, me: Caller, *, chat_id: int, user_id: int) -> None:
    """Leave a group, or (its creator) remove someone from it."""
    async with db.transaction(pool) as conn:
        chat = await access.locked_chat(conn, me, chat_id)
        # 404 ranks before 403: first whether there is such a participant at all.
        if not await store.participants.exists(conn, chat_id=chat_id, user_id=user_id):
            raise errors.NotFound("That user is not in this chat.")
        # Direct chats are fixed, whoever asks: not_a_group before who may remove whom.
        access.require_group(chat)
        if user_id != me.id and chat["created_by"] != me.id:
            raise errors.Forbidden("Only the group's creator may remove others.")
        await store.participants.remove(conn, chat_id=chat_id, user_id=user_id)
        await _publish_update(conn, chat_id, left=(user_id,))
