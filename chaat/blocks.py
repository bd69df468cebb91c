"""Blocking: while either of two users blocks the other, no friend request passes
between them and neither writes in their direct chat (direct_chat_refusal() in
schema.sql; friends.send_request). Groups they share are left as they are.

A block runs under the pair's lock, like everything two users do to their friendship.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from chaat import db, errors, events, store, users
from chaat.auth import Caller

JSON = dict[str, Any]


async def block(pool: asyncpg.Pool, me: Caller, *, user: int | str) -> None:
    """Block someone: their friendship ends and every pending request between them is
    withdrawn, in one transaction. Blocking again changes nothing."""
    async with db.transaction(pool) as conn:
        other = await users.find(conn, user)
        if other["id"] == me.id:
            raise errors.ValidationError(
                "You cannot block yourself.",
                [{"field": "user", "problem": "is yourself", "value": user}],
            )
        await store.friend_requests.lock_pair(conn, user_a=me.id, user_b=other["id"])
        if not await store.blocks.create(conn, blocker_id=me.id, blocked_id=other["id"]):
            return
        told = []
        if await store.friendships.delete(conn, user_a=me.id, user_b=other["id"]):
            told += [
                events.to_user(me.id, "friend.removed", {"user_id": other["id"]}),
                events.to_user(other["id"], "friend.removed", {"user_id": me.id}),
            ]
        for withdrawn in await store.friend_requests.delete_pending_between(
            conn, user_a=me.id, user_b=other["id"]
        ):
            told.append(
                events.to_user(
                    withdrawn["to_user_id"], "friend_request.withdrawn", {"id": withdrawn["id"]}
                )
            )
        await events.publish(conn, *told)


async def unblock(pool: asyncpg.Pool, me: Caller, *, user: int | str) -> None:
    """Unblock: nothing comes back (no friendship, no requests)."""
    async with db.transaction(pool) as conn:
        other = await users.find(conn, user)
        if not await store.blocks.delete(conn, blocker_id=me.id, blocked_id=other["id"]):
            raise errors.NotFound("You do not block this user.")


async def list_blocks(pool: asyncpg.Pool, me: Caller) -> list[JSON]:
    async with db.connection(pool) as conn:
        return await store.blocks.list_for_user(conn, user_id=me.id)


async def refuse_if_blocked(conn: asyncpg.Connection, me: Caller, other_id: int) -> None:
    """403 blocked while either of the two blocks the other."""
    if await store.blocks.exists_between(conn, user_a=me.id, user_b=other_id):
        raise errors.Blocked()
