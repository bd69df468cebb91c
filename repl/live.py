"""Live events: following GET /v1/events while logged in, and what each event does on screen.

follow() runs as a task for the whole session: it reconnects with backoff, resuming
after the last event id seen, so nothing is lost while the connection was down. A
message of the open chat is printed; anything else is a one-line `»` notice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from .chat_view import catch_up, show_new
from .client import ApiError, Chat, Event, FriendRequest, Message, ServerUnreachable
from .render import chat_phrase, message_notice
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
                    if failures:  # missed events follow, but a fresh view is cheap
                        await refresh(client, state, "friends", "chats", "requests")
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
            await refresh(shell.client, shell.state, "friends", "chats", "requests")
            await catch_up(shell)
    except (ApiError, ServerUnreachable):
        pass


async def _on_message(shell: Shell, message: Message) -> None:
    state = shell.state
    if state.open is not None and state.open.id == message["chat_id"]:
        await show_new(shell, message)
        return
    chat = state.chat(message["chat_id"])
    if chat is None:
        await refresh(shell.client, state, "chats")
        chat = state.chat(message["chat_id"])
    if chat is not None:
        chat["last_message"] = message
        if message["sender"]["id"] != state.me_id:
            chat["unread_count"] = chat.get("unread_count", 0) + 1
        state.remember_chat(chat)
    if message["sender"]["id"] == state.me_id:
        return  # sent from another of our sessions
    shell.notice(message_notice(message, chat, me_id=state.me_id))


async def _on_chat(shell: Shell, kind: str, chat: Chat) -> None:
    state = shell.state
    mine = any(p["id"] == state.me_id for p in chat.get("participants", []))
    known = state.chat(chat["id"]) is not None
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
