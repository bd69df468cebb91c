"""Who may see and change which chat: the one home of the chat-access rules.

- A chat the caller is not in answers 404 everywhere, as if it did not exist;
  administrators may read chats and their participants (`admins_may_read`), nothing more.
- A change to a chat takes the chat's lock, then checks participation under it
  (`locked_chat`; a send does the same in SQL, send_message in schema.sql), so that a
  change and someone's removal cannot interleave.
- Locks come before a transaction's first write, so that a transaction that waited
  for another gets the larger transaction id, hence the larger event ids (chaat.events);
  and in one order, so that no two transactions wait for each other: a group's lock,
  then a pair's (adding someone to a group), then a direct chat's. A batch of sends
  (send_messages in schema.sql) takes all of its own in that order, each kind by key.
- Only friends share chats: `require_friends` is the one way to say who is not one.
- Two users have at most one direct chat (`direct_chat`, get-or-create).
"""

from __future__ import annotations

from collections.abc import Iterable

from asyncpg import Connection, Record

from chaat import errors, events, store
from chaat.auth import Caller


async def participant_chat(
    conn: Connection, me: Caller, chat_id: int, *, admins_may_read: bool = False
) -> Record:
    """The chat if the caller takes part in it (or, where admins_may_read, is an
    administrator), else 404."""
    chat = await store.chats.get(conn, id=chat_id, user_id=me.id)
    if chat is None or not (chat["is_participant"] or (admins_may_read and me.is_admin)):
        raise errors.NotFound("No such chat.")
    return chat


async def locked_chat(conn: Connection, me: Caller, chat_id: int) -> Record:
    """participant_chat under the chat's lock, held to the end of the transaction."""
    await store.chats.lock(conn, id=chat_id)
    return await participant_chat(conn, me, chat_id)


def require_group(chat: Record) -> None:
    """422 not_a_group for a direct chat: its participants and name are fixed."""
    if chat["kind"] != "group":
        raise errors.NotAGroup(
            details=[{"field": "chat_id", "problem": "is a direct chat", "value": chat["id"]}]
        )


async def require_friends(
    conn: Connection, me: Caller, people: Iterable[Record], *, field: str
) -> None:
    """403 not_friends naming everyone in people (user rows) who is not the caller's friend
    (the caller is not their own: there is no chat with yourself)."""
    strangers = [
        person["username"]
        for person in people
        if person["id"] == me.id
        or not await store.friendships.exists(conn, user_a=me.id, user_b=person["id"])
    ]
    if strangers:
        raise not_friends(strangers, field=field)


def not_friends(usernames: list[str], *, field: str) -> errors.NotFriends:
    """The 403 not_friends naming these users, each in a details entry for field."""
    return errors.NotFriends(
        f"Not your friend: {', '.join(usernames)}.",
        [{"field": field, "problem": "not a friend", "value": name} for name in usernames],
    )


async def direct_chat(conn: Connection, me: Caller, other_id: int) -> tuple[int, bool]:
    """(id, whether it is new) of the direct chat of the caller and other_id; made (and
    announced) if need be.

    Under the pair's lock, before any write: two users creating it at once make one.
    """
    existing = await store.chats.get_direct(conn, user_a=me.id, user_b=other_id)
    if existing is not None:
        return existing, False
    await store.friend_requests.lock_pair(conn, user_a=me.id, user_b=other_id)
    chat_id = await store.chats.create_direct(conn, user_a=me.id, user_b=other_id, created_by=me.id)
    if chat_id is None:  # made by the other side while we waited for the lock
        existing = await store.chats.get_direct(conn, user_a=me.id, user_b=other_id)
        assert existing is not None, "create_direct met a conflict, so the chat exists"
        return existing, False
    await store.participants.add_many(conn, chat_id=chat_id, user_ids=[me.id, other_id])
    await announce_chat(conn, chat_id)
    return chat_id, True


async def announce_chat(conn: Connection, chat_id: int) -> None:
    """chat.created for a chat made in this transaction; its participants start hearing it."""
    chat = await store.chats.get_json(conn, id=chat_id, viewer_id=None)
    members = [user["id"] for user in chat["participants"]]
    await events.publish(conn, events.to_chat(chat_id, "chat.created", chat, joined=members))
