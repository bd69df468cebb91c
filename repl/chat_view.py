"""The open chat on screen: opening it, showing new and earlier messages in seq order once each,
and moving the read marker.

Everything that prints messages of the open chat holds the shell's show lock, so a
live message arriving meanwhile waits and then is recognised as shown (or as newer,
and printed after).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .client import ApiError, Chat, Message, ServerUnreachable
from .commands import ShellError
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
        previous, state.open = state.open, OpenChat(chat["id"], label)
        try:
            messages, more = await shell.client.list_messages(chat["id"], limit=PAGE)
        except BaseException:
            state.open = previous
            raise
        shell.notice(f"--- {label} (chat {chat['id']}) ---")
        if more:
            shell.notice("(/history shows earlier messages)")
        if not messages:
            shell.notice("No messages yet: type to send one.")
        for message in messages:
            _show_once(shell, message)
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
            shell.show_message(message)
            chat.shown.add(message["seq"])
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
                        _show_once(shell, earlier)
        _show_once(shell, message)
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
            _show_once(shell, message)
        await _mark_read(shell)


def _show_once(shell: Shell, message: Message) -> None:
    chat = shell.state.open
    if chat is None or message["seq"] in chat.shown:
        return
    shell.show_message(message)
    chat.shown.add(message["seq"])
    chat.newest = max(chat.newest or 0, message["seq"])
    chat.oldest = min(chat.oldest or message["seq"], message["seq"])


async def _mark_read(shell: Shell) -> None:
    chat = shell.state.open
    if chat is None or chat.newest is None:
        return
    with contextlib.suppress(ApiError, ServerUnreachable):
        await shell.client.mark_read(chat.id, chat.newest)
    cached = shell.state.chat(chat.id)
    if cached is not None:
        cached["unread_count"] = 0
