"""Live events: recorded with the change they describe, delivered once it commits.

    use case ── publish(conn, ...) ──> event rows + pg_notify, in its transaction
                                            │ commit (PostgreSQL delivers the notify only then)
    every process: Hub listener <───────────┘ LISTEN chaat_events
        Hub._dispatch: events after the cursor, with their recipients among local users
            └──> Subscriber.queue (bounded) ──> the WebSocket or SSE writer

The event rows are the truth; the notification only says "look". A listener
that was down, or a notification that never came, costs latency, not events:
the dispatcher also polls, and every reader follows the stream by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from chaat import db, errors, store

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "chaat_events"
TOKENS_CHANNEL = "chaat_tokens"
BATCH = 500
POLL_SECONDS = 1.0
TOKEN_CHECK_SECONDS = 30.0
PRUNE_SECONDS = 600.0

# Close codes a client sees (WebSocket); SSE streams simply end.
POLICY_VIOLATION = 1008
"""Bad or missing authentication, or the token was revoked or expired."""
GOING_AWAY = 1001
"""The server is shutting down: reconnect (to another process) with ?since=."""
TRY_AGAIN_LATER = 1013
"""The client fell too far behind: reconnect with ?since=<last id seen>."""

DATABASE_TROUBLE = (OSError, errors.Unavailable, asyncpg.PostgresError, asyncpg.InterfaceError)
"""The expected failures of the hub's background work: the database went away
(db.connection says so with errors.Unavailable) or refused a statement."""


def _log_failure(what: str, exc: Exception) -> None:
    """One line when the database is the trouble; a traceback for anything else (a bug).
    Either way the background loop that failed carries on: it must never die quietly."""
    if isinstance(exc, DATABASE_TROUBLE):
        log.warning("%s failed (%s: %s); retrying", what, exc.__class__.__name__, exc)
    else:
        log.exception("%s failed; retrying", what)


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


async def publish(conn: asyncpg.Connection, *events: Event) -> None:
    """Record events in the caller's transaction; clients get them once it commits.

    Call it last in the transaction: it takes the event clock, which is held until commit.
    """
    if not events:
        return
    await store.events.lock_clock(conn)
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
    await store.events.notify(conn, channel=EVENTS_CHANNEL, payload="")


async def tokens_changed(conn: asyncpg.Connection, user_id: int) -> None:
    """Have every process recheck this user's open streams once the transaction commits."""
    await store.events.notify(conn, channel=TOKENS_CHANNEL, payload=str(user_id))


def frame(event_id: int | None, type: str, data: str) -> str:
    """The JSON text of one event; data is already JSON text."""
    head = "" if event_id is None else f'"id":{event_id},'
    return f'{{{head}"type":"{type}","data":{data}}}'


@dataclass(frozen=True)
class Delivery:
    id: int
    type: str
    data: str


class Kicked(Exception):
    """The server ended this stream: code and reason say why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(eq=False)
class Subscriber:
    """One open stream of one user, fed by the hub through a bounded queue."""

    user_id: int
    token_id: int
    expires_at: datetime
    queue: asyncio.Queue[Delivery] = field(default_factory=lambda: asyncio.Queue(1024))
    kicked: Kicked | None = None
    _woken: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, delivery: Delivery) -> None:
        """Queue a delivery; a client this far behind is told to reconnect and resume."""
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.kick(TRY_AGAIN_LATER, "too far behind: reconnect with ?since=<last id>")

    def kick(self, code: int, reason: str) -> None:
        if self.kicked is None:
            self.kicked = Kicked(code, reason)
            self._woken.set()

    async def next(self, within: float) -> Delivery | None:
        """The next delivery, or None after `within` seconds; raises Kicked once kicked."""
        if self.kicked:
            raise self.kicked
        if not self.queue.empty():
            return self.queue.get_nowait()
        getter = asyncio.ensure_future(self.queue.get())
        kicked = asyncio.ensure_future(self._woken.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, kicked}, timeout=within, return_when="FIRST_COMPLETED"
            )
        finally:  # also when the stream is cancelled
            kicked.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            return getter.result()
        if self.kicked:
            raise self.kicked
        return None


class Sink(Protocol):
    """Where a stream's events go: a WebSocket or a Server-Sent Events response."""

    async def send(self, event_id: int | None, type: str, data: str) -> None:
        """Write one event; data is JSON text."""

    async def idle(self) -> None:
        """Called when nothing was sent for a while (SSE writes a keep-alive)."""


class Hub:
    """This process's end of the event stream: one listener, one dispatcher, many subscribers."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, *, retention: int) -> None:
        self._pool = pool
        self._dsn = dsn
        self._retention = retention
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._cursor = 0
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()
        """Set while the LISTEN connection is up (tests wait for it)."""

    async def start(self) -> None:
        async with db.connection(self._pool) as conn:
            self._cursor = await store.events.get_last_id(conn)
        for work in (
            self._listen(),
            self._dispatch_forever(),
            self._check_tokens_forever(),
            self._prune_forever(),
        ):
            self._spawn(work)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.listening.wait()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background until it ends or the hub stops."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def kick_all(self, code: int, reason: str) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.kick(code, reason)

    @contextlib.asynccontextmanager
    async def subscribe(self, subscriber: Subscriber) -> AsyncIterator[None]:
        self._subscribers.setdefault(subscriber.user_id, set()).add(subscriber)
        try:
            yield
        finally:
            mine = self._subscribers.get(subscriber.user_id, set())
            mine.discard(subscriber)
            if not mine:
                self._subscribers.pop(subscriber.user_id, None)

    async def follow(
        self, subscriber: Subscriber, since: int | None, sink: Sink, ready: str
    ) -> None:
        """Feed one stream: `ready` (its data given as JSON text), replay from since, then live.

        The subscriber is registered before `ready` goes out and before the replay
        reads the database: a client that acts on `ready` hears of its own doing, and an
        event commits either before the replay (and is replayed) or after the
        registration (and is queued); one in both is skipped by id. Returns when
        the stream is kicked (raising Kicked) or the send fails.
        """
        async with self.subscribe(subscriber):
            async with db.connection(self._pool) as conn:
                horizon = await store.events.get_horizon(conn)
                # Read after subscribing, whatever commits from now on has a larger id and
                # is queued; read before `ready`, so nothing the client causes after
                # `ready` can fall below the cursor and be skipped.
                last = await store.events.get_last_id(conn)
            await sink.send(None, "ready", ready)
            if since is None:
                cursor = last  # live only: nothing from before `ready`
            elif since < horizon or since > last:
                # Below the horizon, events are gone; above the last id, the client's
                # position is from some other stream (a restored database, say).
                await sink.send(None, "resync_required", "{}")
                cursor = last
            else:
                cursor = await self._replay(subscriber.user_id, since, sink)
            while True:
                remaining = subscriber.expires_at.timestamp() - time.time()
                if remaining <= 0:
                    raise Kicked(POLICY_VIOLATION, "token expired")
                delivery = await subscriber.next(within=min(remaining, 15.0))
                if delivery is None:
                    await sink.idle()
                elif delivery.id > cursor:
                    await sink.send(delivery.id, delivery.type, delivery.data)
                    cursor = delivery.id

    async def _replay(self, user_id: int, since: int, sink: Sink) -> int:
        cursor = since
        while True:
            async with db.connection(self._pool) as conn:
                rows = await store.events.list_for_user(
                    conn, user_id=user_id, after=cursor, limit=BATCH
                )
            for row in rows:
                await sink.send(row["id"], row["type"], row["data"])
                cursor = row["id"]
            if len(rows) < BATCH:
                return cursor

    # The listener: one dedicated connection, reopened with backoff when it drops.

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(EVENTS_CHANNEL, lambda *_: self._wake.set())
                await conn.add_listener(TOKENS_CHANNEL, self._on_tokens_changed)
                self.listening.set()
                delay = 0.5
                # Whatever happened while we were not listening is in the table.
                self._wake.set()
                self._spawn(self._check_tokens())
                await lost.wait()
                log.warning("event listener connection lost; reconnecting")
            except Exception as exc:
                _log_failure("event listener", exc)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()  # never raises: the loop must go on
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _on_tokens_changed(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit() and int(payload) in self._subscribers:
            self._spawn(self._check_tokens(int(payload)))

    # The dispatcher: follows the stream by id and hands each event to local subscribers.

    async def _dispatch_forever(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow
            # the cancellation that stop() sends, and the hub would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._dispatch()
            except Exception as exc:
                _log_failure("event dispatch", exc)
                await asyncio.sleep(POLL_SECONDS)

    async def _dispatch(self) -> None:
        while True:
            async with db.connection(self._pool) as conn:
                rows = await store.events.list_since(
                    conn, after=self._cursor, user_ids=list(self._subscribers), limit=BATCH
                )
            for row in rows:
                delivery = Delivery(row["id"], row["type"], row["data"])
                for user_id in row["recipients"]:
                    for subscriber in self._subscribers.get(user_id, ()):
                        subscriber.offer(delivery)
                self._cursor = row["id"]
            if len(rows) < BATCH:
                return

    # Revoked and expired tokens: their streams close at once, on every process.

    async def _check_tokens(self, user_id: int | None = None) -> None:
        subscribers = [
            s
            for uid, group in list(self._subscribers.items())
            if user_id is None or uid == user_id
            for s in group
        ]
        if not subscribers:
            return
        try:
            async with db.connection(self._pool) as conn:
                live = await store.tokens.list_live(conn, ids=[s.token_id for s in subscribers])
        except Exception as exc:
            _log_failure("token check", exc)
            return  # the next check will do
        for subscriber in subscribers:
            if subscriber.token_id not in live:
                subscriber.kick(POLICY_VIOLATION, "token revoked or expired")

    async def _check_tokens_forever(self) -> None:
        while True:
            await asyncio.sleep(TOKEN_CHECK_SECONDS)
            await self._check_tokens()

    async def _prune_forever(self) -> None:
        while True:
            try:
                async with db.connection(self._pool) as conn:
                    await self.prune(conn)
            except Exception as exc:
                _log_failure("event pruning", exc)
            await asyncio.sleep(PRUNE_SECONDS)

    async def prune(self, conn: asyncpg.Connection) -> int:
        """Drop events past the retention window; answers how many."""
        dropped = await store.events.prune(conn, retention_seconds=self._retention)
        horizon = await store.events.get_horizon(conn)
        await store.events.prune_memberships(conn, before_event_id=horizon)
        return dropped
