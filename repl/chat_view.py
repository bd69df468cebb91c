"""The open chat on screen: opening it, showing new and earlier messages in seq order once each,
lines about messages that change, and moving the read marker.

Everything that prints messages of the open chat holds the shell's show lock, so a
live message arriving meanwhile waits and then is recognised as shown (or as newer,
and printed after). A message that changes later (edited, deleted, reacted to) is
not printed again: one `»` line says what changed.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .client import ApiError, Chat, Message, Reaction, ServerUnreachable
from .commands import ShellError
from .render import change_line
from .state import OpenChat

if TYPE_CHECKING:
    from .shell import Shell

PAGE = 20
"""Messages shown on /open and per /history."""


def open_chat_or_fail(shell: Shell) -> OpenChat:
    """The open chat; a command that needs one fails without it."""
    if shell.state.open is None:
        raise ShellError("No chat is open: /open CHAT or /dm USERNAME first.")
    return shell.state.open


async def open_chat(shell: Shell, chat: Chat) -> None:
    """Make chat the open one and show its latest messages."""
    state = shell.state
    state.remember_chat(chat)
    label = state.label(chat)
    async with shell.show_lock:
        previous = state.open
        state.open = OpenChat(
            chat["id"], label, is_group=chat["kind"] == "group", created_by=chat["created_by"]
        )
        try:
            messages, more = await shell.client.list_messages(chat["id"], limit=PAGE)
        except BaseException:
            state.open = previous
            raise
        shell.digest.drop(chat["id"])  # its messages are on screen now
        shell.activity.refresh()
        shell.notice(f"--- {label} (chat {chat['id']}) ---")
        if more:
            shell.notice("(/history shows earlier messages)")
        if not messages:
            shell.notice("No messages yet: type to send one.")
        for message in messages:
            await _show_once(shell, message)
        state.open.has_earlier = more
        await _mark_read(shell)


async def show_earlier(shell: Shell) -> None:
    """The page of messages before the oldest one shown."""
    chat = open_chat_or_fail(shell)
    if chat.oldest is None or not chat.has_earlier:
        shell.notice("(this is the beginning of the chat)")
        return
    messages, more = await shell.client.list_messages(chat.id, before=chat.oldest, limit=PAGE)
    async with shell.show_lock:  # no live message in the middle of the page
        shell.notice(f"--- earlier in {chat.label} ---")
        for message in messages:
            await _show(shell, chat, message)
        if messages:
            chat.oldest = messages[0]["seq"]
        chat.has_earlier = more
        if not more:
            shell.notice("(this is the beginning of the chat)")


async def show_new(shell: Shell, message: Message) -> None:
    """Show a new message of the open chat, first fetching any it skipped over."""
    state = shell.state
    async with shell.show_lock:
        chat = state.open
        newest = chat.newest or 0 if chat is not None else 0
        if chat is None or chat.id != message["chat_id"] or message["seq"] <= newest:
            return  # not for the open chat, or shown (or history: /history shows it)
        if message["seq"] > newest + 1:  # seq has no gaps: we missed some
            with contextlib.suppress(ApiError, ServerUnreachable):
                missed, _ = await shell.client.list_messages(chat.id, after=newest, limit=200)
                for earlier in missed:
                    if earlier["seq"] < message["seq"]:
                        await _show_once(shell, earlier)
        await _show_once(shell, message)
        if message["sender"]["id"] != state.me_id:
            await _mark_read(shell)
    cached = state.chat(message["chat_id"])
    if cached is not None:
        cached["last_message"] = message
        state.remember_chat(cached)


async def catch_up(shell: Shell) -> None:
    """Show what the open chat received since its newest message shown."""
    chat = shell.state.open
    if chat is None:
        return
    messages, _ = await shell.client.list_messages(chat.id, after=chat.newest or 0, limit=200)
    async with shell.show_lock:
        for message in messages:
            await _show_once(shell, message)
        await _mark_read(shell)


def show_change(shell: Shell, message: Message) -> None:
    """A message was edited, deleted or reacted to: one line about it, nothing redrawn.

    Both the command that made the change and the live event about it come here;
    whichever is first prints the line, and the other finds nothing new.
    """
    state = shell.state
    cached = state.chat(message["chat_id"])
    last = cached.get("last_message") if cached is not None else None
    if cached is not None and last is not None and last["seq"] == message["seq"]:
        cached["last_message"] = message
    chat = state.open
    if chat is None or chat.id != message["chat_id"]:
        return  # told when that chat is opened
    old = chat.messages.get(message["seq"])
    chat.messages[message["seq"]] = message
    if chat.is_group:  # what people you block do in a group goes untold
        if state.is_blocked(message["sender"]["id"]):
            return
        message = _unblocked(shell, message)
        old = _unblocked(shell, old) if old is not None else None
    line = change_line(old, message, me_id=state.me_id, name_of=lambda u: _name(shell, u))
    if line is not None:
        shell.notice(line)


def _unblocked(shell: Shell, message: Message) -> Message:
    """message with the reactions of people you block left out."""
    trimmed = message.copy()
    trimmed["reactions"] = []
    for reaction in message.get("reactions") or []:
        users = [u for u in reaction["user_ids"] if not shell.state.is_blocked(u)]
        if users:
            trimmed["reactions"].append(Reaction(emoji=reaction["emoji"], user_ids=users))
    return trimmed


def _name(shell: Shell, user_id: int) -> str:
    """A participant's username, from the cached chat or the messages on screen."""
    chat = shell.state.open
    cached = shell.state.chat(chat.id) if chat is not None else None
    for user in cached["participants"] if cached is not None else []:
        if user["id"] == user_id:
            return user["username"]
    for message in chat.messages.values() if chat is not None else []:
        if message["sender"]["id"] == user_id:
            return message["sender"]["username"]
    return f"user {user_id}"


async def _show_once(shell: Shell, message: Message) -> None:
    chat = shell.state.open
    if chat is None or message["seq"] in chat.shown:
        return
    await _show(shell, chat, message)
    chat.newest = max(chat.newest or 0, message["seq"])
    chat.oldest = min(chat.oldest or message["seq"], message["seq"])


async def _show(shell: Shell, chat: OpenChat, message: Message) -> None:
    """Print message (with what it answers), unless its sender is blocked in this group."""
    chat.shown.add(message["seq"])
    chat.messages[message["seq"]] = message
    state = shell.state
    if chat.is_group and state.is_blocked(message["sender"]["id"]):
        return
    replied = None
    reply_to = message.get("reply_to")
    if reply_to is not None:
        replied = chat.messages.get(reply_to)
        if replied is None:
            with contextlib.suppress(ApiError, ServerUnreachable):
                replied = chat.messages[reply_to] = await shell.client.get_message(
                    chat.id, reply_to
                )
    hidden = replied is not None and chat.is_group and state.is_blocked(replied["sender"]["id"])
    shell.show_message(message, replied=replied, hidden=hidden)


async def _mark_read(shell: Shell) -> None:
    chat = shell.state.open
    if chat is None or chat.newest is None:
        return
    with contextlib.suppress(ApiError, ServerUnreachable):
        await shell.client.mark_read(chat.id, chat.newest)
    cached = shell.state.chat(chat.id)
    if cached is not None:
        cached["unread_count"] = 0
