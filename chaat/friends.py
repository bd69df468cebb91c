"""Friend requests and friendships.

Everything two users do to their friendship runs under one lock for the pair
(friend_requests.lock_pair), so crossing requests and double accepts settle
into exactly one friendship.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from chaat import blocks, db, errors, events, store, users
from chaat.auth import Caller

JSON = dict[str, Any]


async def send_request(pool: asyncpg.Pool, me: Caller, *, to: int | str) -> tuple[JSON, bool]:
    """Ask someone to be friends: (the request, whether it is new).

    When they have already asked the caller, their request is accepted instead.
    """
    async with db.transaction(pool) as conn:
        other = await users.find(conn, to)
        if other["id"] == me.id:
            raise errors.SelfRequest(
                details=[{"field": "to", "problem": "is yourself", "value": to}]
            )
        await store.friend_requests.lock_pair(conn, user_a=me.id, user_b=other["id"])
        await blocks.refuse_if_blocked(conn, me, other["id"])
        if await store.friendships.exists(conn, user_a=me.id, user_b=other["id"]):
            raise errors.AlreadyFriends()
        if await store.friend_requests.get_pending(
            conn, from_user_id=me.id, to_user_id=other["id"]
        ):
            raise errors.RequestPending()
        theirs = await store.friend_requests.get_pending(
            conn, from_user_id=other["id"], to_user_id=me.id
        )
        if theirs is not None:
            accepted = await _respond(conn, theirs["id"], "accepted")
            return accepted, False
        created = await store.friend_requests.create(
            conn, from_user_id=me.id, to_user_id=other["id"]
        )
        await events.publish(
            conn, events.to_user(other["id"], "friend_request.created", created["json"])
        )
        return created["json"], True


async def respond(pool: asyncpg.Pool, me: Caller, *, request_id: int, status: str) -> JSON:
    """Accept or reject a request sent to the caller; accepting makes them friends."""
    async with db.transaction(pool) as conn:
        request = await _get_as_party(conn, request_id, me, allowed="to_user_id")
        # The pair lock first, as send_request takes it: the other order could deadlock.
        await store.friend_requests.lock_pair(
            conn, user_a=request["from_user_id"], user_b=request["to_user_id"]
        )
        return await _respond(conn, request_id, status)


async def _respond(conn: asyncpg.Connection, request_id: int, status: str) -> JSON:
    answered = await store.friend_requests.respond(conn, id=request_id, status=status)
    if answered is None:  # answered by someone else since we looked
        raise errors.NotPending()
    if status == "accepted":
        await store.friendships.create(
            conn, user_a=answered["from_user_id"], user_b=answered["to_user_id"]
        )
    await events.publish(
        conn,
        *(
            events.to_user(side, "friend_request.updated", answered["json"])
            for side in (answered["from_user_id"], answered["to_user_id"])
        ),
    )
    return answered["json"]  # type: ignore[no-any-return]


async def withdraw(pool: asyncpg.Pool, me: Caller, *, request_id: int) -> None:
    """Delete a pending request the caller sent."""
    async with db.transaction(pool) as conn:
        request = await _get_as_party(conn, request_id, me, allowed="from_user_id")
        await store.friend_requests.lock_pair(
            conn, user_a=request["from_user_id"], user_b=request["to_user_id"]
        )
        if not await store.friend_requests.delete_pending(conn, id=request_id):
            raise errors.NotPending()
        await events.publish(
            conn,
            events.to_user(request["to_user_id"], "friend_request.withdrawn", {"id": request_id}),
        )


async def _get_as_party(
    conn: asyncpg.Connection, request_id: int, me: Caller, *, allowed: str
) -> asyncpg.Record:
    """The request if the caller is its `allowed` side; the other side gets 403, anyone else 404."""
    request = await store.friend_requests.get(conn, id=request_id)
    if request is None or me.id not in (request["from_user_id"], request["to_user_id"]):
        raise errors.NotFound("No such friend request.")
    if request[allowed] != me.id:
        other = "recipient" if allowed == "to_user_id" else "sender"
        raise errors.Forbidden(f"Only the request's {other} may do this.")
    return request


async def list_requests(
    pool: asyncpg.Pool, me: Caller, *, status: str | None, direction: str
) -> list[JSON]:
    async with db.connection(pool) as conn:
        return await store.friend_requests.list_for_user(
            conn,
            user_id=me.id,
            status=status,
            incoming=direction in ("incoming", "all"),
            outgoing=direction in ("outgoing", "all"),
        )


async def list_friends(pool: asyncpg.Pool, me: Caller) -> list[JSON]:
    async with db.connection(pool) as conn:
        return await store.friendships.list_for_user(conn, user_id=me.id)


async def unfriend(pool: asyncpg.Pool, me: Caller, *, user_id: int) -> None:
    """End a friendship for both sides; the accepted request stays in the history."""
    async with db.transaction(pool) as conn:
        await store.friend_requests.lock_pair(conn, user_a=me.id, user_b=user_id)
        if not await store.friendships.delete(conn, user_a=me.id, user_b=user_id):
            raise errors.NotFound("You are not friends with this user.")
        await events.publish(
            conn,
            events.to_user(me.id, "friend.removed", {"user_id": user_id}),
            events.to_user(user_id, "friend.removed", {"user_id": me.id}),
        )
