"""Sending and reading messages, and read markers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import asyncpg
from asyncpg import Connection

from chaat import access, blocks, bus, db, errors, events, limits, store, users
from chaat.auth import Caller
from chaat.db import JsonText
from chaat.hub import Hub
from chaat.limits import Limiter, Terms, Throttle
from chaat.validation import MAX_ID


async def append(
    conn: Connection,
    me: Caller,
    chat_id: int,
    *,
    body: str,
    client_id: str | None,
    reply_to: int | None = None,
) -> tuple[JsonText, bool]:
    """Store a message in a chat the caller may write to, in the caller's transaction:
    (message, whether it is new).

    One statement (send_message in schema.sql) takes the chat's lock, checks who may
    write, numbers the message and records its message.created event. A retried
    client_id answers the first message and records nothing.
    """
    sent = await store.messages.send(
        conn, chat_id=chat_id, sender_id=me.id, body=body, client_id=client_id, reply_to=reply_to
    )
    if sent["outcome"] == "sent":
        events.wake_chats_after_commit(conn, chat_id)
    return _answer(sent, reply_to)


def _answer(sent: asyncpg.Record, reply_to: int | None) -> tuple[JsonText, bool]:
    """What a send answered: (message, whether it is new), or the API error it means."""
    _raise_refusal(sent["outcome"], stranger=sent["stranger"])
    if sent["outcome"] == "bad_reply_to":
        raise errors.ValidationError(
            "reply_to must be the seq of a message in this chat.",
            [{"field": "reply_to", "problem": "no such message in this chat", "value": reply_to}],
        )
    return sent["message"], sent["outcome"] == "sent"


def _raise_refusal(
    outcome: str,
    *,
    stranger: str | None = None,
    forbidden: str = "Only its sender may change this message.",
) -> None:
    """The API error for an outcome of the database functions that change messages
    (send_message, edit_message...) when it is a refusal."""
    match outcome:
        case "not_found":
            raise errors.NotFound("No such chat or message.")
        case "forbidden":
            raise errors.Forbidden(forbidden)
        case "blocked":
            raise errors.Blocked()
        case "not_friends":
            assert stranger is not None
            raise access.not_friends([stranger], field="chat")
        case "client_id_conflict":
            raise errors.ClientIdConflict()
        case "message_deleted":
            raise errors.MessageDeleted()
        case "too_many_reactions":
            raise errors.TooManyReactions(
                details=[{"field": "emoji", "problem": "a message carries at most 20 emoji"}]
            )


@dataclass(eq=False)
class _Outgoing:
    """One send waiting for its batch (Sends)."""

    chat_id: int
    sender_id: int
    body: str
    client_id: str | None
    reply_to: int | None
    rate: Terms | None
    answer: asyncio.Future[asyncpg.Record]


class Sends:
    """Sends to chats (POST /v1/chats/{id}/messages), in batches: group commit. At most
    AT_ONCE batches are on their way to the database; the sends that arrive meanwhile
    wait, then go together, in one statement and one commit (send_messages in
    schema.sql), whatever their chats. (Synapse persists a room's events in batches.)

    Each send costs the database a statement, a transaction and a WAL flush, and the
    server a round trip; in a batch, many sends share them. A send to a quiet server
    goes at once, alone. A chat has at most one batch on its way: its sends wait for
    that one (its lock numbers them anyway), and go in the order they came.
    """

    AT_ONCE = 2
    """Batches on their way at once, shared by the server's worker processes, each
    keeping at least one (so many pool connections at most)..."""
    SLOW = 0.2
    """...but a batch on its way for longer than this many seconds (one of its chats'
    lock is held, say) no longer counts: it holds up its own chats, not everyone's."""
    MOST = 100
    """Sends in one batch at most (one transaction writes at most 1024 events)."""

    def __init__(self, pool: asyncpg.Pool, limiter: Limiter, *, workers: int = 1) -> None:
        self._pool = pool
        self._limiter = limiter
        self._at_once = max(1, self.AT_ONCE // workers)
        """This process's share of AT_ONCE: each worker batches only its own sends, and
        more batches at once are smaller ones, each paying a statement and a commit."""
        self._waiting: dict[int, list[_Outgoing]] = {}
        """Per chat, in the order chats came: its sends that are not on their way yet."""
        self._on_their_way: set[int] = set()
        """Chats with a batch on its way."""
        self._flying = 0
        """Batches on their way."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(
        self, me: Caller, *, chat_id: int, body: str, client_id: str | None, reply_to: int | None
    ) -> tuple[JsonText, bool]:
        """(message, whether it is new; a retried client_id is not). The sender's rate
        limit is spent in the same statement (limits.SPENT_BY_THE_HANDLER)."""
        outgoing = _Outgoing(
            chat_id,
            me.id,
            body,
            client_id,
            reply_to,
            self._limiter.terms("message", me.id),
            asyncio.get_running_loop().create_future(),
        )
        self._waiting.setdefault(chat_id, []).append(outgoing)
        self._launch()
        sent = await outgoing.answer
        if sent["wait"] > 0:
            raise limits.refusal("message", sent["wait"])
        return _answer(sent, reply_to)

    def queued(self, chat_id: int) -> int:
        """Sends to the chat waiting for a batch (none is: 0)."""
        return len(self._waiting.get(chat_id, ()))

    def _launch(self) -> None:
        """Send batches while fewer than this process's share of AT_ONCE are on their way."""
        while self._flying < self._at_once:
            batch = self._next_batch()
            if not batch:
                return
            self._flying += 1
            task = asyncio.create_task(self._fly(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_batch(self) -> list[_Outgoing]:
        """The waiting sends of chats with no batch on its way, up to MOST."""
        batch: list[_Outgoing] = []
        for chat_id, waiting in list(self._waiting.items()):
            if len(batch) == self.MOST:
                break
            if chat_id in self._on_their_way:
                continue
            taken = waiting[: self.MOST - len(batch)]
            del waiting[: len(taken)]
            if not waiting:
                del self._waiting[chat_id]
            batch += taken
            self._on_their_way.add(chat_id)
        return batch

    async def _fly(self, batch: list[_Outgoing]) -> None:
        counted = True

        def uncount() -> None:
            nonlocal counted
            counted = False
            self._flying -= 1
            self._launch()

        slow = asyncio.get_running_loop().call_later(self.SLOW, uncount)
        try:
            await self._store(batch)
        finally:
            slow.cancel()
            if counted:
                self._flying -= 1
            self._on_their_way.difference_update(outgoing.chat_id for outgoing in batch)
            for outgoing in batch:  # left unanswered only if we were cancelled
                if not outgoing.answer.done():
                    outgoing.answer.cancel()
        self._launch()

    async def _store(self, batch: list[_Outgoing]) -> None:
        try:
            async with db.connection(self._pool) as conn:
                rows = await store.messages.send_many(
                    conn,
                    chat_ids=[o.chat_id for o in batch],
                    sender_ids=[o.sender_id for o in batch],
                    bodies=[o.body for o in batch],
                    client_ids=[o.client_id for o in batch],
                    reply_tos=[o.reply_to for o in batch],
                    rates=[o.rate for o in batch],
                )
                events.wake_chats_after_commit(
                    conn,
                    *{
                        outgoing.chat_id
                        for outgoing, row in zip(batch, rows, strict=True)
                        if row["outcome"] == "sent"
                    },
                )
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, errors.Unavailable):
                # A statement that fails stores none of the batch: so that a send the
                # database refuses fails alone, each goes again by itself.
                for outgoing in batch:
                    await self._store([outgoing])
                return
            for outgoing in batch:
                if not outgoing.answer.done():
                    outgoing.answer.set_exception(exc)
            return
        for outgoing, row in zip(batch, rows, strict=True):
            if not outgoing.answer.done():
                outgoing.answer.set_result(row)


async def get(pool: asyncpg.Pool, me: Caller, *, chat_id: int, seq: int) -> JsonText:
    """One message of a chat the caller takes part in (a tombstone too)."""
    async with db.connection(pool) as conn:
        message = await store.messages.get(conn, chat_id=chat_id, seq=seq, user_id=me.id)
    if message is None:
        raise errors.NotFound("No such message.")
    return message


async def edit(pool: asyncpg.Pool, me: Caller, *, chat_id: int, seq: int, body: str) -> JsonText:
    """The caller's own message, with a new body (edit_message in schema.sql)."""
    async with db.connection(pool) as conn:
        edited = await store.messages.edit(conn, chat_id=chat_id, seq=seq, user_id=me.id, body=body)
        _raise_refusal(edited["outcome"], stranger=edited["stranger"])
        events.wake_chats_after_commit(conn, chat_id)
    return JsonText(edited["message"])


async def delete(pool: asyncpg.Pool, me: Caller, *, chat_id: int, seq: int) -> None:
    """Leave a tombstone in the message's place (delete_message in schema.sql): the
    sender may, and a group's creator; deleting a tombstone again changes nothing."""
    async with db.connection(pool) as conn:
        outcome = await store.messages.delete(conn, chat_id=chat_id, seq=seq, user_id=me.id)
        _raise_refusal(outcome, forbidden="Only its sender, or the group's creator, may delete it.")
        if outcome == "deleted":
            events.wake_chats_after_commit(conn, chat_id)


async def react(
    pool: asyncpg.Pool, me: Caller, *, chat_id: int, seq: int, emoji: str, add: bool
) -> JsonText:
    """Add or remove the caller's reaction; answers the message as it is now."""
    change = store.reactions.add if add else store.reactions.remove
    async with db.connection(pool) as conn:
        changed = await change(conn, chat_id=chat_id, seq=seq, user_id=me.id, emoji=emoji)
        _raise_refusal(changed["outcome"], stranger=changed["stranger"])
        if changed["outcome"] == "changed":
            events.wake_chats_after_commit(conn, chat_id)
    return JsonText(changed["message"])


async def send_to_user(
    pool: asyncpg.Pool, me: Caller, *, user: int | str, body: str, client_id: str | None
) -> tuple[JsonText, bool]:
    """Send to a friend's direct chat, creating the chat first if needed, in one transaction."""
    async with db.transaction(pool) as conn:
        other = await users.find(conn, user)
        await blocks.refuse_if_blocked(conn, me, other["id"])
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
    """Move the caller's read marker forward to seq (at most the chat's last message);
    when it moves, the chat hears of it (chat.read)."""
    async with db.connection(pool) as conn:
        outcome = await store.participants.mark_read(conn, chat_id=chat_id, user_id=me.id, seq=seq)
        if outcome == "not_found":
            raise errors.NotFound("No such chat.")
        if outcome == "moved":
            events.wake_chats_after_commit(conn, chat_id)


async def search(
    pool: asyncpg.Pool,
    me: Caller,
    *,
    q: str,
    chat_id: int | None,
    before: int | None,
    limit: int,
) -> tuple[list[JsonText], bool]:
    """Messages of the caller's chats (or of one) with every word of q starting a word of
    their body, newest first, and whether older matches exist. One round trip."""
    async with db.connection(pool) as conn:
        page = await store.messages.search(
            conn,
            user_id=me.id,
            chat_id=chat_id,
            q=q,
            before=MAX_ID if before is None else before,
            limit=limit + 1,
        )
    if page is None:
        raise errors.NotFound("No such chat.")
    return page[:limit], len(page) > limit


TYPING_INTERVAL = 2.0
"""Seconds between two typing notices of one user in one chat; the rest are dropped."""


async def typing(
    pool: asyncpg.Pool, me: Caller, hub: Hub, notices: Throttle, *, chat_id: int
) -> None:
    """Tell the chat's other participants, live only, that the caller is typing; the
    caller must be allowed to write there. Never stored, so never replayed."""
    async with db.connection(pool) as conn:
        audience = await store.chats.get_typing_audience(conn, chat_id=chat_id, user_id=me.id)
    if audience is None:
        raise errors.NotFound("No such chat.")
    _raise_refusal(audience["outcome"] or "", stranger=audience["stranger"])
    if audience["audience"] and notices.allow((me.id, chat_id)):
        sender = json.dumps({"id": me.id, "username": me.username})
        hub.send_live(
            bus.chat_topic(chat_id),
            audience["audience"],
            "typing",
            f'{{"chat_id":{chat_id},"user":{sender}}}',
        )
