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

Live-only events (typing notices: never stored, never replayed) travel whole on the
same bus (send_live), each process handing them to its own users' streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import asyncpg

from chaat import db, store

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "chaat_events"
"""The PostgreSQL notification channel of PostgresBus."""
LIVE_CHANNEL = "chaat_live"
"""PostgresBus's channel for live-only events ("<sender's name> <payload>")."""
REDIS_PREFIX = "chaat:"
RETRY_SECONDS = 1.0
"""A failed publish is dropped (the others poll meanwhile) and publishing pauses this long."""
LISTENER_NAME = "chaat listener"
"""The application_name of a server process's LISTEN connection (chaat.hub) while the
process has open event streams: the others wake it after their commits."""
IDLE_LISTENER_NAME = "chaat listener, no streams"
"""Its name while the process has none: nobody wakes it."""
STREAMS_OPENED = "streams opened"
"""A wake-up's payload after the sender's name when its first stream opened: the others
wake it from now on, without waiting for their next look (PEERS_CHECK_SECONDS)."""
PEERS_CHECK_SECONDS = 1.0
"""How long the Postgres bus trusts what it last found on whether other processes listen."""


def chat_topic(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


class Bus(Protocol):
    """How this process wakes the others, and hears them."""

    def publish(self, topics: Iterable[str]) -> None:
        """Events for these topics have committed (called after commit; never blocks)."""

    def send_live(self, topic: str, payload: str) -> None:
        """A live-only event (JSON text) for the other processes: best effort, never blocks."""

    def follow(self, user_id: int) -> None:
        """A user now has a stream on this process: wake us for their events."""

    def unfollow(self, user_id: int) -> None:
        """The user's last stream on this process ended."""

    async def advertise(self, listener: asyncpg.Connection) -> None:
        """For as long as the hub's LISTEN connection lasts (cancelled when it drops): tell
        the others through it what this process needs to hear."""

    async def run(self) -> None:
        """The bus's background work; runs until cancelled and survives any error."""


class _Outbox:
    """What waits to be sent: everything queued while the last batch was on its way
    goes out in the next one (wake-ups coalesced by topic; live events in order)."""

    LIVE_LIMIT = 1000
    """Live events queued at most (when the bus is down, the oldest are dropped)."""

    def __init__(self) -> None:
        self._topics: set[str] = set()
        self._live: list[tuple[str, str]] = []
        self._ready = asyncio.Event()

    def add(self, topics: Iterable[str]) -> None:
        self._topics.update(topics)
        if self._topics:
            self._ready.set()

    def add_live(self, topic: str, payload: str) -> None:
        self._live = [*self._live[-(self.LIVE_LIMIT - 1) :], (topic, payload)]
        self._ready.set()

    async def take(self) -> tuple[set[str], list[tuple[str, str]]]:
        await self._ready.wait()
        self._ready.clear()
        batch, self._topics = self._topics, set()
        live, self._live = self._live, []
        return batch, live


class PostgresBus:
    """Every process with open streams hears every wake-up, through the hub's LISTEN
    connection.

    Wake-ups go only to processes whose listener is named LISTENER_NAME, those with
    open streams, and none at all from a process alone on its database (the default
    deployment): py-spy put the NOTIFY after each batch of commits at 9% of a lone
    server's CPU during sends, and with two processes and no streams, each woken
    dispatcher's read raised PostgreSQL's CPU per send by half. A process looks at the
    others' names at most once a PEERS_CHECK_SECONDS; one whose first stream opens says
    so (STREAMS_OPENED), so the others wake it from then on. A process that starts may
    wait up to PEERS_CHECK_SECONDS plus one poll of its dispatcher for the events
    committed meanwhile, and misses the typing notices. The workers of one `chaat serve`
    tell each other directly (chaat.siblings): they do not count as others here.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        name: str,
        own_listeners: Callable[[], list[int]],
        from_us: Callable[[str], bool],
    ) -> None:
        self._pool = pool
        self._name = name
        self._own_listeners = own_listeners
        """The backend pids of our own LISTEN connection (0 while it is down) and of our
        sibling workers' (chaat.siblings), which hear from us directly."""
        self._from_us = from_us
        """Whether a wake-up's sender name is ours or a sibling's."""
        self._outbox = _Outbox()
        self._peers = True
        self._peers_checked = -math.inf
        self._users: set[int] = set()
        self._streams_changed = asyncio.Event()

    def publish(self, topics: Iterable[str]) -> None:
        self._outbox.add(topics)

    def send_live(self, topic: str, payload: str) -> None:
        self._outbox.add_live(topic, payload)

    def follow(self, user_id: int) -> None:
        if not self._users:
            self._streams_changed.set()
        self._users.add(user_id)

    def unfollow(self, user_id: int) -> None:
        self._users.discard(user_id)
        if not self._users:
            self._streams_changed.set()

    async def advertise(self, listener: asyncpg.Connection) -> None:
        """Name the listener after whether this process has streams, announce the first
        one, and hear the others announce theirs."""
        await listener.add_listener(EVENTS_CHANNEL, self._on_wake_up)
        advertised: bool | None = None
        while True:
            self._streams_changed.clear()
            streams = bool(self._users)
            if streams != advertised:
                name = LISTENER_NAME if streams else IDLE_LISTENER_NAME
                await store.events.name_connection(listener, name=name)
                if streams:
                    await store.events.notify_many(
                        listener,
                        channels=[EVENTS_CHANNEL],
                        payloads=[f"{self._name} {STREAMS_OPENED}"],
                    )
                advertised = streams
            await self._streams_changed.wait()

    def _on_wake_up(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        sender, _, what = payload.partition(" ")
        if what == STREAMS_OPENED and not self._from_us(sender):
            self._peers, self._peers_checked = True, time.monotonic()

    async def run(self) -> None:
        while True:
            topics, live = await self._outbox.take()
            if not await self._anyone_else():
                continue
            notices = [(EVENTS_CHANNEL, self._name)] if topics else []
            notices += [(LIVE_CHANNEL, f"{self._name} {payload}") for _, payload in live]
            try:
                async with db.connection(self._pool) as conn:
                    await store.events.notify_many(
                        conn,
                        channels=[channel for channel, _ in notices],
                        payloads=[payload for _, payload in notices],
                    )
            except Exception as exc:
                db.log_failure("event notification", exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _anyone_else(self) -> bool:
        """Whether another process listens, other than our siblings (or we could not tell)."""
        now = time.monotonic()
        if now - self._peers_checked >= PEERS_CHECK_SECONDS:
            self._peers_checked = now
            try:
                async with db.connection(self._pool) as conn:
                    others = await store.events.count_listeners(
                        conn, names=[LISTENER_NAME], except_pids=self._own_listeners()
                    )
                    self._peers = others > 0
            except Exception as exc:
                db.log_failure("looking for other processes", exc)
                self._peers = True
        return self._peers


class RedisBus:
    """Per-chat and per-user Redis channels; each process subscribes to its users' own.

    A user's channel is subscribed before their chats are read, and the hub is woken
    once the subscriptions are in place, so a wake-up sent before them costs nothing:
    the hub looks in the table then. Joining or leaving a chat publishes on the user's
    channel, which makes the process read that user's chats again. When Redis goes
    away, this process subscribes again once it is back and looks in the table.
    """

    def __init__(
        self,
        url: str,
        pool: asyncpg.Pool,
        *,
        name: str,
        wake: Callable[[], None],
        hear_live: Callable[[str], None],
    ) -> None:
        import redis.asyncio as redis  # optional: pip install 'chaat[redis]'
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Subscribing: no retries inside the client, so that a dropped connection reaches
        # our loop, which subscribes again and looks in the table for what it missed.
        self._client = redis.from_url(url, retry=Retry(NoBackoff(), 0), health_check_interval=10)
        # Publishing: one retry, on a new connection when Redis came back since the
        # last publish (else the batch waits a second, the others polling meanwhile).
        self._publisher = redis.from_url(url, retry=Retry(NoBackoff(), 1))
        self._failures: tuple[type[Exception], ...] = (redis.RedisError, *db.FAILURES)
        self._pool = pool
        self._name = name
        self._wake = wake
        self._hear_live = hear_live
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

    def send_live(self, topic: str, payload: str) -> None:
        self._outbox.add_live(topic, payload)

    def follow(self, user_id: int) -> None:
        self._users.add(user_id)
        self._stale.add(user_id)
        self._changed.set()

    def unfollow(self, user_id: int) -> None:
        self._users.discard(user_id)
        self._chats_of.pop(user_id, None)
        self._changed.set()

    async def advertise(self, listener: asyncpg.Connection) -> None:
        await asyncio.Future()  # Redis carries the wake-ups: nothing to say through it

    async def run(self) -> None:
        try:
            await asyncio.gather(self._publish_forever(), self._receive_forever())
        finally:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            with contextlib.suppress(Exception):
                await self._publisher.aclose()

    async def _publish_forever(self) -> None:
        while True:
            topics, live = await self._outbox.take()
            try:
                async with self._publisher.pipeline(transaction=False) as pipe:
                    for topic in sorted(topics):
                        pipe.publish(REDIS_PREFIX + topic, self._name)
                    for topic, payload in live:
                        pipe.publish(REDIS_PREFIX + topic, f"{self._name} {payload}")
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
            if message is None:
                continue
            sender, _, live = message["data"].decode().partition(" ")
            if sender == self._name:
                continue  # ours were handled when we sent them
            if live:
                self._hear_live(live)
                continue
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
