"""Live events, delivered: this process's hub, from the event table to the sockets.

    after commit: wake_all(topics) ──> this process's hubs, and the bus (chaat.bus)
    every process: Hub <── the bus: NOTIFY to all, or Redis to the processes concerned
        Hub._dispatch: settled events after the cursor, with their recipients among
        local users ──> Subscriber.queue (bounded) ──> the WebSocket or SSE writer

The event rows are the truth; a wake-up only says "look". A listener that was
down, or a notification that never came, costs latency, not events: the
dispatcher also polls, and every reader follows the stream by id.

Event ids (chaat.events) do not become visible in id order: a transaction with a
smaller id may commit later. So readers deliver only below the settled id
(settled_event_id()): the smallest id of a transaction still running in this
database (from the snapshot's running transactions), below which every event is
committed or will never exist. Events above it wait, typically a few milliseconds;
a transaction left open in Chaat's database holds them back until it ends (the
dispatcher logs it), one elsewhere in the cluster does not. Every reader then sees
the stream in id order: ids grow for each user, and `?since=<last id>` resumes with
nothing lost and nothing twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import asyncpg

from chaat import db, store
from chaat.bus import (
    EVENTS_CHANNEL,
    IDLE_LISTENER_NAME,
    LISTENER_NAME,
    LIVE_CHANNEL,
    Bus,
    PostgresBus,
    RedisBus,
)
from chaat.siblings import Siblings

log = logging.getLogger(__name__)

TOKENS_CHANNEL = "chaat_tokens"
TOKENS_HEARD_CHANNEL = "chaat_tokens_heard"
"""Where listeners confirm a revocation (announce_revocation): its nonce."""
BATCH = 500
POLL_SECONDS = 1.0
TOKEN_CHECK_SECONDS = 30.0
PRUNE_SECONDS = 600.0
READ_GAP_SECONDS = 0.004
"""The dispatcher's reads are at least this far apart: at 200 messages a second into one
chat it reads after each, at 1,000 about one read serves four (bench/compare.py
fan-out-max: 15% less CPU per message for the server and for PostgreSQL)."""
SETTLE_SECONDS = 0.005
"""First look again this soon when committed events wait for an earlier transaction."""
HELD_WARNING_SECONDS = 10.0
STALL_SECONDS = 10.0
"""/v1/health reports live events stalled past this (the dispatcher polls every second)."""
REVOCATION_CONFIRM_SECONDS = 5.0
"""How long a revocation waits for every process's listener to confirm it."""

# Close codes a client sees (WebSocket); SSE streams simply end.
POLICY_VIOLATION = 1008
"""Bad or missing authentication, the token was revoked or expired, or the user opened
more than MOST_STREAMS streams (the oldest closes)."""
GOING_AWAY = 1001
"""The server is shutting down: reconnect (to another process) with ?since=."""
TRY_AGAIN_LATER = 1013
"""The client fell too far behind: reconnect with ?since=<last id seen>."""

DELIVERY_CONNECTIONS = 2
"""The hub's own pool: one for the dispatcher's reads, one for the bus's notifications."""

MOST_STREAMS = 20
"""Open event streams one user may have on one process."""

_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()
"""The running hubs of this process (one per app; tests run several)."""


def wake_all(topics: Iterable[str]) -> None:
    """Events for these topics (chaat.bus) were committed: the hubs of this process look
    now, and tell the others."""
    for hub in list(_hubs):
        hub.wake(topics)


async def revoke_tokens(pool: asyncpg.Pool, user_id: int) -> None:
    """Some of a user's tokens were revoked (committed): this process forgets it checked
    them and closes their streams now, and we answer once every process confirmed it
    did the same (announce_revocation)."""
    for hub in list(_hubs):
        hub.tokens_revoked(user_id)
    async with db.connection(pool) as conn:
        unconfirmed = await announce_revocation(conn, user_id)
    if unconfirmed:
        log.warning(
            "%d server process(es) did not confirm a revocation within %.0f s",
            unconfirmed,
            REVOCATION_CONFIRM_SECONDS,
        )


async def announce_revocation(conn: asyncpg.Connection, user_id: int) -> int:
    """Tell every server process to forget the tokens it checked for this user
    (security.CheckedTokens) and close their streams, and wait until each one's listener
    confirms, so that the change holds everywhere once we return. Answers how many did
    not confirm in time: a process whose listener is gone trusts no checked token until
    it listens again, and one that is stuck catches up when it runs again."""
    names = [LISTENER_NAME, IDLE_LISTENER_NAME]
    listeners = await store.events.count_listeners(conn, names=names)
    nonce = secrets.token_hex(8)
    heard: asyncio.Queue[None] = asyncio.Queue()

    def on_heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == nonce:
            heard.put_nowait(None)

    await conn.add_listener(TOKENS_HEARD_CHANNEL, on_heard)
    try:
        payload = f"{user_id} {nonce} confirm"
        await store.events.notify_many(conn, channels=[TOKENS_CHANNEL], payloads=[payload])
        confirmed = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REVOCATION_CONFIRM_SECONDS):
                while confirmed < listeners:
                    await heard.get()
                    confirmed += 1
    finally:
        await conn.remove_listener(TOKENS_HEARD_CHANNEL, on_heard)
    return listeners - confirmed


def frame(event_id: int | None, type: str, data: str) -> str:
    """The JSON text of one event; data is already JSON text."""
    head = "" if event_id is None else f'"id":{event_id},'
    return f'{{{head}"type":"{type}","data":{data}}}'


@dataclass(frozen=True)
class Delivery:
    id: int | None
    """None for a live-only event (typing), which is never stored nor replayed."""
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
    """One open stream of one user, fed by the hub through a bounded queue.

    An idle stream waits on one event, in its own task: no task of its own per wait
    (10,000 idle sockets are 10,000 waits).
    """

    user_id: int
    token_id: int
    expires_at: datetime
    queue: collections.deque[Delivery] = field(default_factory=collections.deque)
    kicked: Kicked | None = None
    _signal: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a delivery is queued, the stream is kicked or the wake-up timer rings."""
    _wake_up: asyncio.TimerHandle | None = None

    LIMIT: ClassVar[int] = 1024
    """Deliveries queued at most: a client this far behind is told to resume."""

    def offer(self, delivery: Delivery) -> None:
        """Queue a delivery; a client this far behind is told to reconnect and resume."""
        if len(self.queue) >= self.LIMIT:
            self.kick(TRY_AGAIN_LATER, "too far behind: reconnect with ?since=<last id>")
        else:
            self.queue.append(delivery)
            self._signal.set()

    def kick(self, code: int, reason: str) -> None:
        if self.kicked is None:
            self.kicked = Kicked(code, reason)
            self._signal.set()

    async def next(self, within: float) -> Delivery | None:
        """The next delivery; None when the wake-up timer rang first. Raises Kicked once
        kicked.

        The timer rings at most `within` seconds after the wait that set it, and
        deliveries leave it running: a busy stream would otherwise set and cancel a
        timer for every event it receives.
        """
        if not self.queue and not self.kicked:
            if self._wake_up is None:
                self._wake_up = asyncio.get_running_loop().call_later(within, self._ring)
            self._signal.clear()
            await self._signal.wait()
        if self.kicked:
            raise self.kicked
        return self.queue.popleft() if self.queue else None

    def _ring(self) -> None:
        self._wake_up = None
        self._signal.set()

    def close(self) -> None:
        """The stream has ended: stop its timer."""
        if self._wake_up is not None:
            self._wake_up.cancel()
            self._wake_up = None


class Sink(Protocol):
    """Where a stream's events go: a WebSocket or a Server-Sent Events response."""

    async def send(self, event_id: int | None, type: str, data: str) -> None:
        """Write one event; data is JSON text."""

    async def idle(self) -> None:
        """Called when nothing was sent for a while (SSE writes a keep-alive)."""


class Revocations(Protocol):
    """Who must hear of revoked tokens (security.CheckedTokens): the hub says when it
    listens for them, and which user's tokens changed."""

    def listening(self, up: bool) -> None: ...

    def revoked(self, user_id: int) -> None: ...


class Hub:
    """This process's end of the event stream: one listener, one dispatcher, many subscribers."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        *,
        delivery_pool: asyncpg.Pool,
        retention: int,
        revocations: Revocations,
        redis_url: str | None = None,
        siblings: Siblings | None = None,
    ) -> None:
        self._pool = pool
        self._delivery_pool = delivery_pool
        """The dispatcher's and the bus's own connections (DELIVERY_CONNECTIONS): under
        load every connection of the requests' pool is taken, and live events would
        queue behind the requests for one."""
        self._revocations = revocations
        self._dsn = dsn
        self._retention = retention
        self._subscribers: dict[int, dict[Subscriber, None]] = {}
        """Each user's open streams here, oldest first."""
        self._cursor = 0
        """Every event up to here is dispatched."""
        self._reaching = 0
        """Up to where the dispatch under way goes: it names its recipients when it
        starts, so a stream that subscribes meanwhile replays up to here itself."""
        self._joined = 0
        """Streams started so far (the dispatcher notices one starting while it reads)."""
        self._wake = asyncio.Event()
        self._name = secrets.token_hex(8)
        """Our wake-ups' payload, so that we can skip our own when they come back."""
        self._listener_pid = 0
        """Our LISTEN connection's backend pid, 0 while it is down (the bus asks)."""
        self._siblings = siblings or Siblings()
        """The other workers of this `chaat serve` (chaat.siblings); none with Redis, whose
        channels wake each process already (chaat.server.run_workers)."""
        self.bus: Bus = (
            RedisBus(
                redis_url,
                delivery_pool,
                name=self._name,
                wake=self._wake.set,
                hear_live=self._hear_live,
            )
            if redis_url
            else PostgresBus(
                delivery_pool,
                name=self._name,
                own_listeners=self._our_listeners,
                from_us=self._from_us,
            )
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()
        """Set while the LISTEN connection is up (tests wait for it)."""
        self._silent_since: float | None = time.monotonic()
        """Since when the listener has been down (None while it listens)."""
        self._dispatched_at = time.monotonic()
        """When the dispatcher last read the stream without failing."""

    async def start(self) -> None:
        async with db.connection(self._pool) as conn:
            self._cursor = (await store.events.get_position(conn))["settled"] - 1
        for work in (
            self._listen(),
            self._dispatch_forever(),
            self.bus.run(),
            self._check_tokens_forever(),
            self._prune_forever(),
        ):
            self._spawn(work)
        self._siblings.start(self._name, wake=self._wake.set, hear_live=self._hear_live)
        self._spawn(self._siblings.run())
        _hubs.add(self)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.listening.wait()

    def problem(self) -> str | None:
        """Why live events are not flowing right now, if they are not (for /v1/health)."""
        now = time.monotonic()
        if self._silent_since is not None and now - self._silent_since > STALL_SECONDS:
            return f"the event listener has been disconnected for {now - self._silent_since:.0f} s"
        if now - self._dispatched_at > STALL_SECONDS:
            return f"live events have not been dispatched for {now - self._dispatched_at:.0f} s"
        return None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background until it ends or the hub stops."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        _hubs.discard(self)
        self._siblings.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self, topics: Iterable[str]) -> None:
        """New events committed here: dispatch them, and wake the other processes."""
        self._wake.set()
        self._siblings.wake()
        self.bus.publish(topics)

    def send_live(self, topic: str, user_ids: list[int], type: str, data: str) -> None:
        """A live-only event (data: JSON text) to these users' streams, on every process;
        never stored, so never replayed, and lost by a stream that is not open."""
        self._deliver_live(user_ids, type, data)
        payload = f'{{"to":{json.dumps(user_ids)},"type":"{type}","data":{data}}}'
        self._siblings.send_live(payload)
        self.bus.send_live(topic, payload)

    def _deliver_live(self, user_ids: list[int], type: str, data: str) -> None:
        for user_id in user_ids:
            for subscriber in self._subscribers.get(user_id, ()):
                subscriber.offer(Delivery(None, type, data))

    def _hear_live(self, payload: str) -> None:
        """A live-only event from another process (see send_live)."""
        try:
            event = json.loads(payload)
            self._deliver_live(event["to"], event["type"], json.dumps(event["data"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed live event from the bus")

    def tokens_revoked(self, user_id: int) -> None:
        self._revocations.revoked(user_id)
        self._spawn(self._check_tokens(user_id))

    def kick_all(self, code: int, reason: str) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.kick(code, reason)

    @contextlib.asynccontextmanager
    async def subscribe(self, subscriber: Subscriber) -> AsyncIterator[None]:
        """Count the stream as open in the block. A user has at most MOST_STREAMS open
        on this process: opening one more closes the oldest (1008), which is most
        likely a tab or device long gone, rather than refusing the new one."""
        if subscriber.user_id not in self._subscribers:
            self.bus.follow(subscriber.user_id)
        mine = self._subscribers.setdefault(subscriber.user_id, {})
        self._siblings.streams(True)
        live = [s for s in mine if s.kicked is None]
        for oldest in live[: max(0, len(live) + 1 - MOST_STREAMS)]:
            oldest.kick(POLICY_VIOLATION, f"more than {MOST_STREAMS} open streams for this user")
        mine[subscriber] = None
        self._joined += 1
        self._wake.set()  # the cursor may be up to a second behind (_dispatch_forever)
        try:
            yield
        finally:
            subscriber.close()
            mine = self._subscribers.get(subscriber.user_id, {})
            mine.pop(subscriber, None)
            if not mine:
                self._subscribers.pop(subscriber.user_id, None)
                self.bus.unfollow(subscriber.user_id)
                self._siblings.streams(bool(self._subscribers))

    async def follow(
        self, subscriber: Subscriber, since: int | None, sink: Sink, ready: str
    ) -> None:
        """Feed one stream: `ready` (its data given as JSON text), replay from since, then live.

        At the moment the subscriber is registered, every event up to where the
        dispatcher has reached goes without it, and every later one will be dispatched
        to it: the replay reads up to there (or the settled id, if later) from the
        table, the queue brings the rest, and an event in both is skipped by id. A
        stream without since skips what had committed before `ready` (below the
        settled id, and the unsettled ones) and gets everything that commits after it.
        Returns when the stream is kicked (raising Kicked) or the send fails.
        """
        async with self.subscribe(subscriber):
            dispatched = max(self._cursor, self._reaching)
            async with db.connection(self._pool) as conn:
                position = await store.events.get_position(conn)
            await sink.send(None, "ready", ready)
            old_news: set[int] = set()
            gone, last = position["pruned_through"], position["last"]
            if since is not None and (since < gone or since > last):
                # Below the horizon, events are gone; above the last id, the client's
                # position is from some other stream (a restored database, say).
                await sink.send(None, "resync_required", "{}")
                since = None
            if since is None:  # live only: nothing that had committed before `ready`
                cursor = position["settled"] - 1
                old_news = set(position["unsettled"])
            else:
                # A since beyond `through` came from a process ahead of ours: nothing to
                # replay, and the queue brings what follows it.
                through = max(dispatched, position["settled"] - 1)
                cursor = max(since, await self._replay(subscriber.user_id, since, through, sink))
            while True:
                remaining = subscriber.expires_at.timestamp() - time.time()
                if remaining <= 0:
                    raise Kicked(POLICY_VIOLATION, "token expired")
                delivery = await subscriber.next(within=min(remaining, 15.0))
                if delivery is None:
                    await sink.idle()
                elif delivery.id is None:  # live only: no place in the stream
                    await sink.send(None, delivery.type, delivery.data)
                elif delivery.id > cursor and delivery.id not in old_news:
                    await sink.send(delivery.id, delivery.type, delivery.data)
                    cursor = delivery.id

    async def _replay(self, user_id: int, since: int, through: int, sink: Sink) -> int:
        cursor = since
        while True:
            async with db.connection(self._pool) as conn:
                rows = await store.events.list_for_user(
                    conn, user_id=user_id, after=cursor, through=through, limit=BATCH
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
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": LISTENER_NAME}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(EVENTS_CHANNEL, self._on_events)
                await conn.add_listener(TOKENS_CHANNEL, self._on_tokens_changed)
                await conn.add_listener(LIVE_CHANNEL, self._on_live)
                self._listener_pid = conn.get_server_pid()
                self._siblings.listening(self._listener_pid)
                self.listening.set()
                self._silent_since = None
                self._revocations.listening(True)
                delay = 0.5
                # Whatever happened while we were not listening is in the table.
                self._wake.set()
                self._spawn(self._check_tokens())
                await self._until_lost(conn, lost)
                log.warning("event listener connection lost; reconnecting")
            except Exception as exc:
                db.log_failure("event listener", exc)
            finally:
                self._listener_pid = 0
                self._siblings.listening(0)
                self.listening.clear()
                self._silent_since = self._silent_since or time.monotonic()
                self._revocations.listening(False)
                if conn is not None and not conn.is_closed():
                    conn.terminate()  # never raises: the loop must go on
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _until_lost(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Wait until the listener connection is lost, the bus advertising through it
        meanwhile; a failure of the bus's (the connection broke) ends the wait too."""
        advertising = asyncio.ensure_future(self.bus.advertise(conn))
        losing = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait((advertising, losing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (advertising, losing):
                task.cancel()
            await asyncio.gather(advertising, losing, return_exceptions=True)
        if not advertising.cancelled():
            advertising.result()  # it ended by itself: raise what it raised

    def _on_events(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        sender, _, _ = payload.partition(" ")
        if not self._from_us(sender):  # our own wake-up was handled when we sent it
            self._wake.set()

    def _on_live(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        sender, _, event = payload.partition(" ")
        if not self._from_us(sender):  # ours were delivered when we sent them
            self._hear_live(event)

    def _from_us(self, sender: str) -> bool:
        """Whether a bus message came from this process, or from a sibling worker, which
        told us directly (chaat.siblings)."""
        return sender == self._name or self._siblings.is_sibling(sender)

    def _our_listeners(self) -> list[int]:
        """The LISTEN connections the bus need not wake: ours and our siblings'."""
        return [self._listener_pid, *self._siblings.listener_pids()]

    def _on_tokens_changed(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        """Payload: "<user id> <nonce>", and " confirm" when the revoking process waits to
        hear from every listener that the user's tokens are forgotten (announce_revocation)."""
        user, _, nonce = payload.partition(" ")
        nonce, _, confirm = nonce.partition(" ")
        if user.isdigit():
            self._revocations.revoked(int(user))
            if int(user) in self._subscribers:
                self._spawn(self._check_tokens(int(user)))
        if confirm:
            self._spawn(self._confirm(nonce))

    async def _confirm(self, nonce: str) -> None:
        try:
            async with db.connection(self._delivery_pool) as conn:
                await store.events.notify_many(
                    conn, channels=[TOKENS_HEARD_CHANNEL], payloads=[nonce]
                )
        except Exception as exc:
            db.log_failure("revocation confirmation", exc)  # the admin's wait times out

    # The dispatcher: follows the stream by id and hands each event to local subscribers.

    async def _dispatch_forever(self) -> None:
        wait = POLL_SECONDS
        held_since: float | None = None
        read_at = -math.inf
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow
            # the cancellation that stop() sends, and the hub would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            # Under load, read at most once a READ_GAP_SECONDS: one read then serves
            # every message committed meanwhile, instead of one read each.
            if (early := read_at + READ_GAP_SECONDS - time.monotonic()) > 0:
                await asyncio.sleep(early)
            self._wake.clear()
            quiet_for = time.monotonic() - self._dispatched_at
            if not self._subscribers and quiet_for < POLL_SECONDS:
                # No stream here to deliver to: move the cursor on once a second, not
                # after every commit. A stream that starts replays from the table up
                # to where the stream stands, and wakes us to read the rest.
                wait, held_since = POLL_SECONDS - quiet_for, None
                continue
            read_at = time.monotonic()
            try:
                settling = await self._dispatch()
                self._dispatched_at = time.monotonic()
            except Exception as exc:
                db.log_failure("event dispatch", exc)
                wait = POLL_SECONDS
                continue
            if not settling:
                wait, held_since = POLL_SECONDS, None
                continue
            # Committed events wait for an earlier transaction: look again soon.
            now = time.monotonic()
            if held_since is None:
                held_since, wait = now, SETTLE_SECONDS
            else:
                wait = min(wait * 2, POLL_SECONDS)
            if now - held_since > HELD_WARNING_SECONDS:
                log.warning(
                    "live events held back for %.0f s by a transaction left open in the"
                    " database (see pg_stat_activity)",
                    now - held_since,
                )
                held_since = now

    async def _dispatch(self) -> bool:
        """Deliver the settled events after the cursor; whether committed ones still wait.

        Each read is one statement: where the stream is settled, and the batch after
        the cursor below it. A stream that starts while it runs gets the read again."""
        async with db.connection(self._delivery_pool) as conn:
            while True:
                joined = self._joined
                users = list(self._subscribers)
                rows = await store.events.list_settled(
                    conn, after=self._cursor, user_ids=users, limit=BATCH if users else 0
                )
                settled, unsettled = rows[0]["settled"], rows[0]["unsettled"]
                # From here a stream that starts replays up to settled itself (follow()).
                self._reaching = max(self._reaching, settled - 1)
                if joined != self._joined:
                    continue  # one started while we read, and may have replayed less
                for row in rows:
                    if row["id"] is None:
                        break  # no event: the row only says where the stream stands
                    delivery = Delivery(row["id"], row["type"], row["data"])
                    for user_id in row["recipients"]:
                        for subscriber in self._subscribers.get(user_id, ()):
                            subscriber.offer(delivery)
                    self._cursor = row["id"]
                if len(rows) < BATCH:
                    break
            self._cursor = max(self._cursor, settled - 1)
            return bool(unsettled)

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
            db.log_failure("token check", exc)
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
                db.log_failure("event pruning", exc)
            await asyncio.sleep(PRUNE_SECONDS)

    async def prune(self, conn: asyncpg.Connection) -> int:
        """Drop events past the retention window; answers how many."""
        dropped = await store.events.prune(conn, retention_seconds=self._retention)
        horizon = await store.events.get_horizon(conn)
        await store.events.prune_memberships(conn, before_event_id=horizon)
        return dropped
