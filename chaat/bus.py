"""Wake-ups between server processes: "events committed for these chats and users".

A wake-up carries no event: the event table is the durable log, and each process's
hub (chaat.hub) reads what its own users need from it. A wake-up that never arrives
costs latency, never an event: the hub also polls every second.

- PostgresBus (the default, no extra service): one coalesced NOTIFY after commit,
  heard by every process, which then looks in the table for its users.
- RedisBus (CHAAT_REDIS_URL): one channel per chat and per user. A process
  subscribes only to the channels of the users who have a stream open on it and of
  their chats, so it wakes only for what its users need, and a process on another
  host needs nothing but Redis and the database.

Topics are "chat:<id>" (an event for a chat's participants) and "user:<id>" (an
event for one user, or a change of the chats they take part in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import asyncpg

from chaat import db, store

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "chaat_events"
"""The PostgreSQL notification channel of PostgresBus."""
REDIS_PREFIX = "chaat:"
RETRY_SECONDS = 1.0
"""A failed publish is dropped (the others poll meanwhile) and publishing pauses this long."""


def chat_topic(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


class Bus(Protocol):
    """How this process wakes the others, and hears them."""

    def publish(self, topics: Iterable[str]) -> None:
        """Events for these topics have committed (called after commit; never blocks)."""

    def follow(self, user_id: int) -> None:
        """A user now has a stream on this process: wake us for their events."""

    def unfollow(self, user_id: int) -> None:
        """The user's last stream on this process ended."""

    async def run(self) -> None:
        """The bus's background work; runs until cancelled and survives any error."""


class _Outbox:
    """Topics waiting to be published: everything queued while the last publish was on
    its way goes out in the next one."""

    def __init__(self) -> None:
        self._topics: set[str] = set()
        self._ready = asyncio.Event()

    def add(self, topics: Iterable[str]) -> None:
        self._topics.update(topics)
        if self._topics:
            self._ready.set()

    async def take(self) -> set[str]:
        await self._ready.wait()
        self._ready.clear()
        batch, self._topics = self._topics, set()
        return batch


class PostgresBus:
    """Every process hears every wake-up, through the hub's LISTEN connection."""

    def __init__(self, pool: asyncpg.Pool, *, name: str) -> None:
        self._pool = pool
        self._name = name
        self._outbox = _Outbox()

    def publish(self, topics: Iterable[str]) -> None:
        self._outbox.add(topics)

    def follow(self, user_id: int) -> None:
        pass  # everyone hears everything

    def unfollow(self, user_id: int) -> None:
        pass

    async def run(self) -> None:
        while True:
            await self._outbox.take()
            try:
                async with db.connection(self._pool) as conn:
                    await store.events.notify_many(
                        conn, channels=[EVENTS_CHANNEL], payloads=[self._name]
                    )
            except Exception as exc:
                db.log_failure("event notification", exc)
                await asyncio.sleep(RETRY_SECONDS)


class RedisBus:
    """Per-chat and per-user Redis channels; each process subscribes to its users' own.

    A user's channel is subscribed before their chats are read, and the hub is woken
    once the subscriptions are in place, so a wake-up sent before them costs nothing:
    the hub looks in the table then. Joining or leaving a chat publishes on the user's
    channel, which makes the process read that user's chats again. When Redis goes
    away, this process subscribes again once it is back and looks in the table.
    """

    def __init__(
        self, url: str, pool: asyncpg.Pool, *, name: str, wake: Callable[[], None]
    ) -> None:
        import redis.asyncio as redis  # optional: pip install 'chaat[redis]'
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside the client: a dropped connection reaches our loop, which
        # subscribes again and looks in the table for what it missed.
        self._client = redis.from_url(url, retry=Retry(NoBackoff(), 0), health_check_interval=10)
        self._failures: tuple[type[Exception], ...] = (redis.RedisError, *db.FAILURES)
        self._pool = pool
        self._name = name
        self._wake = wake
        self._outbox = _Outbox()
        self._users: set[int] = set()
        self._chats_of: dict[int, frozenset[int]] = {}
        self._stale: set[int] = set()
        """Users whose chats must be read again."""
        self._changed = asyncio.Event()
        self.subscribed: set[str] = set()
        """The channels this process is subscribed to (tests look)."""
        self.connected = asyncio.Event()

    def publish(self, topics: Iterable[str]) -> None:
        self._outbox.add(topics)

    def follow(self, user_id: int) -> None:
        self._users.add(user_id)
        self._stale.add(user_id)
        self._changed.set()

    def unfollow(self, user_id: int) -> None:
        self._users.discard(user_id)
        self._chats_of.pop(user_id, None)
        self._changed.set()

    async def run(self) -> None:
        try:
            await asyncio.gather(self._publish_forever(), self._receive_forever())
        finally:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def _publish_forever(self) -> None:
        while True:
            topics = await self._outbox.take()
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for topic in sorted(topics):
                        pipe.publish(REDIS_PREFIX + topic, self._name)
                    await pipe.execute()
            except Exception as exc:
                db.log_failure("event wake-up (Redis)", exc, self._failures)
                await asyncio.sleep(RETRY_SECONDS)

    async def _receive_forever(self) -> None:
        delay = 0.5
        while True:
            pubsub: Any = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                # A channel of our own, so that the connection is up even with no users.
                await pubsub.subscribe(f"{REDIS_PREFIX}process:{self._name}")
                self.subscribed = set()
                self._stale |= self._users  # read every chat list again: we were deaf
                await self._subscribe(pubsub)
                self._wake()  # whatever committed while we were deaf is in the table
                self.connected.set()
                delay = 0.5
                await asyncio.gather(self._hear(pubsub), self._keep_subscribed(pubsub))
            except Exception as exc:
                db.log_failure("event bus (Redis)", exc, self._failures)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _hear(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None or message["data"] == self._name.encode():
                continue  # our own wake-ups were handled when we sent them
            kind, _, id = message["channel"].decode().removeprefix(REDIS_PREFIX).partition(":")
            if kind == "user" and int(id) in self._users:
                self._stale.add(int(id))  # their chats may have changed
                self._changed.set()
            self._wake()

    async def _keep_subscribed(self, pubsub: Any) -> None:
        while True:
            await self._changed.wait()
            try:
                added = await self._subscribe(pubsub)
            except db.FAILURES as exc:  # Redis's own failures end the connection
                db.log_failure("reading the chats of users with a stream", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if added:
                self._wake()

    async def _subscribe(self, pubsub: Any) -> bool:
        """Bring the subscriptions in line with the local users and their chats; whether
        any were added (a wake-up may have been sent before them)."""
        self._changed.clear()
        users = {REDIS_PREFIX + user_topic(u) for u in self._users}
        if users - self.subscribed:  # the users' own channels first, then their chats
            await pubsub.subscribe(*(users - self.subscribed))
        stale, self._stale = self._stale & self._users, set()
        try:
            if stale:
                async with db.connection(self._pool) as conn:
                    chats = await store.participants.list_chat_ids(conn, user_ids=sorted(stale))
                for user_id in stale & self._users:  # not those who left meanwhile
                    self._chats_of[user_id] = frozenset(chats.get(user_id, ()))
        except Exception:
            self._stale |= stale  # read them again next time
            self._changed.set()
            raise
        wanted = users | {
            REDIS_PREFIX + chat_topic(chat) for chats in self._chats_of.values() for chat in chats
        }
        added = wanted - self.subscribed
        if wanted - users - self.subscribed:
            await pubsub.subscribe(*(wanted - users - self.subscribed))
        if self.subscribed - wanted:
            await pubsub.unsubscribe(*(self.subscribed - wanted))
        self.subscribed = wanted
        return bool(added)
