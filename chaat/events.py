"""Live events, recorded: what use cases call to tell users of a change.

    use case ── publish(conn, ...) ──> event rows, in its transaction
                 └─ after commit: hub.wake_all(topics) ──> the delivery (chaat.hub)

An event goes to one user, or to a chat's participants at that moment (one row for
the whole chat). Its id is its place in the stream, made without any lock shared by
the writers: (writing transaction's id) * 1024 + its number within the transaction
(next_event_id() in schema.sql), so two transactions' events never interleave. A
transaction's id is given at its first write, so writers take their locks before
their first write (chaat.access): one that waited for another's lock gets a larger
id, and a chat's events follow its order (seq). Ids do not become visible in id
order, though; chaat.hub delivers them so that every reader sees them in id order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from chaat import bus, db, hub, store


@dataclass(frozen=True)
class Event:
    """Something to tell a user (user_id) or everyone in a chat (chat_id)."""

    type: str
    data: Any
    user_id: int | None = None
    chat_id: int | None = None
    joined: tuple[int, ...] = ()
    """Users who start receiving the chat's events with this one."""
    left: tuple[int, ...] = ()
    """Users who stop receiving the chat's events after this one."""


def to_user(user_id: int, type: str, data: Any) -> Event:
    return Event(type, data, user_id=user_id)


def to_chat(
    chat_id: int, type: str, data: Any, *, joined: Iterable[int] = (), left: Iterable[int] = ()
) -> Event:
    return Event(type, data, chat_id=chat_id, joined=tuple(joined), left=tuple(left))


def wake_after_commit(conn: asyncpg.Connection, topics: Iterable[str]) -> None:
    """Once the work on conn commits, the hubs look for events of these topics (chaat.bus)."""
    if topics := tuple(topics):
        db.on_commit(conn, functools.partial(hub.wake_all, topics))


def wake_chats_after_commit(conn: asyncpg.Connection, *chat_ids: int) -> None:
    """Once the work on conn commits, the hubs look for these chats' new events (events
    written in SQL, such as send_messages()'s)."""
    wake_after_commit(conn, [bus.chat_topic(chat_id) for chat_id in chat_ids])


def _topics(event: Event) -> list[str]:
    """Who must look: the chat's participants, a user, and whoever joins or leaves."""
    topics = [bus.user_topic(user) for user in (*event.joined, *event.left)]
    if event.chat_id is not None:
        topics.append(bus.chat_topic(event.chat_id))
    if event.user_id is not None:
        topics.append(bus.user_topic(event.user_id))
    return topics


async def publish(conn: asyncpg.Connection, *events: Event) -> None:
    """Record events in the caller's transaction (a db.connection() block); clients get
    them once it commits. The transaction must have taken its locks already (see above)."""
    if not events:
        return
    wake_after_commit(conn, [topic for event in events for topic in _topics(event)])
    for event in events:
        event_id = await store.events.create(
            conn, user_id=event.user_id, chat_id=event.chat_id, type=event.type, data=event.data
        )
        if event.chat_id is not None and event.left:
            await store.events.close_membership(
                conn, chat_id=event.chat_id, user_ids=list(event.left), event_id=event_id
            )
        if event.chat_id is not None and event.joined:
            await store.events.open_membership(
                conn, chat_id=event.chat_id, user_ids=list(event.joined), event_id=event_id
            )
