"""Live events: following GET /v1/events while logged in, and what each event does on screen.

follow() runs as a task for the whole session: it reconnects with backoff, resuming
after the last event id seen, so nothing is lost while the connection was down. A
message of the open chat is printed; a change to one (edit, deletion, reaction) is
one `»` line; messages of other chats are told by the Digest, one line per chat and
burst; anything else is a one-line `»` notice. Typing shows in the bottom toolbar.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from .chat_view import catch_up, show_change, show_new
from .client import ApiError, Chat, Event, FriendRequest, Message, Sender, ServerUnreachable
from .render import chat_phrase, digest_line
from .state import refresh

if TYPE_CHECKING:
    from .shell import Shell


async def follow(shell: Shell) -> None:
    """Print events as they come; reconnect with backoff, resuming after the last id."""
    state, client = shell.state, shell.client
    failures = 0  # reconnections tried since the stream last worked
    told_lost = told_bug = False
    while client.token is not None:
        try:
            async for event in client.events(since=state.last_event_id):
                if event.get("type") == "ready":
                    shell.following = True
                    shell.server_back.set()  # lines waiting to be sent go now
                    if failures:  # missed events follow, but a fresh view is cheap
                        await refresh(client, state, "friends", "chats", "requests", "blocks")
                    if told_lost:
                        shell.notice("Live updates are back.")
                        told_lost = False
                    failures = 0
                await on_event(shell, event)
                if isinstance(event.get("id"), int):
                    state.last_event_id = event["id"]
        except ApiError as exc:
            if exc.status == 404:
                if not shell.told_no_events:
                    shell.notice(
                        "(This server has no live updates: new messages show when you "
                        "/open a chat or list /chats.)"
                    )
                    shell.told_no_events = True
                return
            if exc.status == 401:
                return  # the token is gone; the next command says so
        except ServerUnreachable:
            pass
        except Exception as exc:  # a bug in handling an event: say so once, go on
            if not told_bug:
                shell.error(f"Live updates failed: {exc!r}")
                told_bug = True
        finally:
            shell.following = False
        # A blip is retried quietly; say so once the first retry has failed too.
        failures += 1
        if failures > 1 and not told_lost:
            shell.notice("(Live updates lost; reconnecting...)")
            told_lost = True
        delays = shell.reconnect_delays
        await asyncio.sleep(delays[min(failures - 1, len(delays) - 1)])


async def on_event(shell: Shell, event: Event) -> None:
    """React to one event; a failed call leaves the caches for the next refresh."""
    kind = event.get("type")
    data = event.get("data") or {}
    try:
        if kind == "message.created":
            await _on_message(shell, cast(Message, data))
        elif kind == "message.updated":
            show_change(shell, cast(Message, data))
        elif kind == "typing":
            shell.activity.seen(data["chat_id"], cast(Sender, data["user"]))
        elif kind == "chat.read":
            _on_read(shell, data)
        elif kind in ("chat.created", "chat.updated"):
            await _on_chat(shell, kind, cast(Chat, data))
        elif kind == "friend_request.created":
            _on_request(shell, cast(FriendRequest, data))
        elif kind == "friend_request.updated":
            await _on_request_answered(shell, cast(FriendRequest, data))
        elif kind == "friend_request.withdrawn":
            gone = data.get("id")
            shell.state.incoming = [r for r in shell.state.incoming if r["id"] != gone]
        elif kind == "friend.removed":
            await refresh(shell.client, shell.state, "friends")
        elif kind == "resync_required":
            # The server forgot what we missed: reload the caches and the open chat's news.
            await refresh(shell.client, shell.state, "friends", "chats", "requests", "blocks")
            await catch_up(shell)
    except (ApiError, ServerUnreachable):
        pass


async def _on_message(shell: Shell, message: Message) -> None:
    state = shell.state
    shell.activity.stopped(message["chat_id"], message["sender"]["username"])
    if state.open is not None and state.open.id == message["chat_id"]:
        await show_new(shell, message)
        return
    chat = state.chat(message["chat_id"])
    if chat is None:
        await refresh(shell.client, state, "chats")
        chat = state.chat(message["chat_id"])
    if chat is not None:
        # A chat loaded after this message was sent counts it already: the cached
        # last_message says which messages its unread_count includes.
        last = chat.get("last_message")
        counted = last is not None and last["seq"] >= message["seq"]
        if not counted:
            chat["last_message"] = message
            if message["sender"]["id"] != state.me_id:
                chat["unread_count"] = chat.get("unread_count", 0) + 1
        state.remember_chat(chat)
    if message["sender"]["id"] == state.me_id or state.hides(message):
        return  # sent from another of our sessions, or by someone we block
    shell.digest.add(message)


def _on_read(shell: Shell, data: dict[str, object]) -> None:
    """Someone's read marker moved; ours (from another session) clears the unread count."""
    state = shell.state
    chat = state.chat(cast(int, data.get("chat_id")))
    seq = data.get("seq")
    if chat is None or data.get("user_id") != state.me_id or not isinstance(seq, int):
        return
    last = chat.get("last_message")
    if last is None or last["seq"] <= seq:
        chat["unread_count"] = 0


class Digest:
    """Messages of chats that are not open, told as one line per chat and burst.

    A chat's first message waits `quiet` seconds for more; its line comes once the
    chat has been quiet that long, or `longest` seconds after that first message: a
    hundred messages arriving at once (a busy group, or those missed while away)
    make one line, `» #book club 120 new messages from carol, bob; the last, ...`.
    """

    def __init__(self, shell: Shell, *, quiet: float = 0.5, longest: float = 5.0) -> None:
        self.shell = shell
        self.quiet = quiet
        self.longest = longest
        self._waiting: dict[int, list[Message]] = {}
        self._since: dict[int, float] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def add(self, message: Message) -> None:
        loop = asyncio.get_running_loop()
        chat_id = message["chat_id"]
        self._waiting.setdefault(chat_id, []).append(message)
        since = self._since.setdefault(chat_id, loop.time())
        timer = self._timers.pop(chat_id, None)
        if timer is not None:
            timer.cancel()
        at = min(loop.time() + self.quiet, since + self.longest)
        self._timers[chat_id] = loop.call_at(at, self._tell, chat_id)

    def _tell(self, chat_id: int) -> None:
        messages = self._waiting.get(chat_id, [])
        self.drop(chat_id)
        if messages:
            state = self.shell.state
            self.shell.notice(digest_line(messages, state.chat(chat_id), me_id=state.me_id))

    def drop(self, chat_id: int) -> None:
        """Tell nothing more of chat_id's waiting messages (it was opened)."""
        self._waiting.pop(chat_id, None)
        self._since.pop(chat_id, None)
        timer = self._timers.pop(chat_id, None)
        if timer is not None:
            timer.cancel()

    def clear(self) -> None:
        for chat_id in list(self._waiting):
            self.drop(chat_id)


async def _on_chat(shell: Shell, kind: str, chat: Chat) -> None:
    state = shell.state
    mine = any(p["id"] == state.me_id for p in chat.get("participants", []))
    known = state.chat(chat["id"]) is not None or chat["id"] in shell.joined
    if mine:
        shell.joined.add(chat["id"])
    await refresh(shell.client, state, "chats")
    if kind == "chat.created" and mine and chat.get("created_by") != state.me_id:
        what = "added you to" if chat["kind"] == "group" else "started a chat with you:"
        creator = next(
            (p["username"] for p in chat["participants"] if p["id"] == chat["created_by"]),
            "someone",
        )
        phrase = chat_phrase(chat, me_id=state.me_id)
        shell.notice(f"» {creator} {what} {phrase}  (/open {chat['id']})")
    elif kind == "chat.updated" and not mine and known and chat["id"] not in shell.leaving:
        if state.open is not None and state.open.id == chat["id"]:
            state.open = None
        shell.notice(f"» You are no longer in {chat_phrase(chat, me_id=state.me_id)}.")


def _on_request(shell: Shell, request: FriendRequest) -> None:
    state = shell.state
    if request["to"]["id"] == state.me_id:
        sender = request["from"]["username"]
        state.incoming.insert(0, request)
        state.usernames.add(sender)
        shell.notice(f"» {sender} sent you a friend request: /accept {sender} or /reject {sender}")


async def _on_request_answered(shell: Shell, request: FriendRequest) -> None:
    await refresh(shell.client, shell.state, "friends", "requests")
    if request["from"]["id"] == shell.state.me_id and request["status"] != "pending":
        other = request["to"]["username"]
        if request["status"] == "accepted":
            shell.notice(f"» {other} accepted your friend request.")
        else:
            shell.notice(f"» {other} declined your friend request.")
