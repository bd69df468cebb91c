"""/reply, /edit, /delete, /react, /unreact, /search: messages by their number in the open chat.

A message's number is its seq, printed before it; Tab offers the recent ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import outbox
from ..chat_view import open_chat_or_fail, show_change
from ..client import ApiError, ServerUnreachable
from ..commands import Arg, Param, ShellError, command, emoji_of, seq_of
from ..render import search_line
from ..state import OpenChat

if TYPE_CHECKING:
    from ..shell import Shell

_TEXT = Param("TEXT", Arg.TEXT)


@command("reply", "answer message N of the open chat (it is quoted above yours)",
         Param("N", Arg.MESSAGE), _TEXT)  # fmt: skip
async def reply(shell: Shell, number: str, text: str) -> None:
    chat = open_chat_or_fail(shell)
    seq = seq_of(number)
    try:
        await outbox.send(shell, chat.id, text, reply_to=seq)
    except ApiError as exc:
        if any(d.get("field") == "reply_to" for d in exc.details):
            raise ShellError(f"No message {seq} in {chat.label} to reply to.") from None
        raise


@command("edit", "change the text of your message N", Param("N", Arg.MY_MESSAGE), _TEXT)
async def edit(shell: Shell, number: str, text: str) -> None:
    chat = open_chat_or_fail(shell)
    seq = seq_of(number)
    message = chat.messages.get(seq)
    if message is not None and message["sender"]["id"] != shell.state.me_id:
        owner = message["sender"]["username"]
        raise ShellError(f"Message {seq} is {owner}'s: you can only edit your own.")
    try:
        show_change(shell, await shell.client.edit_message(chat.id, seq, text))
    except ApiError as exc:
        raise _about(exc, chat, seq, "edit") from None


@command("delete", "delete your message N (in a group you made, anyone's)",
         Param("N", Arg.DELETABLE))  # fmt: skip
async def delete(shell: Shell, number: str) -> None:
    chat = open_chat_or_fail(shell)
    seq = seq_of(number)
    try:
        await shell.client.delete_message(chat.id, seq)
    except ApiError as exc:
        raise _about(exc, chat, seq, "delete") from None
    try:  # the tombstone, to say which message went
        show_change(shell, await shell.client.get_message(chat.id, seq))
    except (ApiError, ServerUnreachable):
        shell.notice(f"» message {seq} was deleted")


@command("react", "react to message N with an emoji (or a :shortcode:, such as :+1:)",
         Param("N", Arg.MESSAGE), Param("EMOJI", Arg.EMOJI))  # fmt: skip
async def react(shell: Shell, number: str, emoji: str) -> None:
    await _react(shell, number, emoji, add=True)


@command("unreact", "take back your reaction to message N",
         Param("N", Arg.MESSAGE), Param("EMOJI", Arg.MY_EMOJI))  # fmt: skip
async def unreact(shell: Shell, number: str, emoji: str) -> None:
    await _react(shell, number, emoji, add=False)


async def _react(shell: Shell, number: str, word: str, *, add: bool) -> None:
    chat = open_chat_or_fail(shell)
    seq, emoji = seq_of(number), emoji_of(word)
    try:
        message = await shell.client.react(chat.id, seq, emoji, add=add)
    except ApiError as exc:
        raise _about(exc, chat, seq) from None
    show_change(shell, message)


@command("search", "find messages in your chats with every word of TEXT", _TEXT)
async def search(shell: Shell, words: str) -> None:
    state = shell.state
    try:
        found, more = await shell.client.search(words)
    except ApiError as exc:
        if exc.status == 404 and exc.code == "not_found":
            raise ShellError("This server cannot search messages.") from None
        raise
    found = [m for m in found if not state.hides(m)]
    if not found:
        shell.say("No messages match.")
        return
    for message in found:
        shell.say(search_line(message, state.chat(message["chat_id"]), me_id=state.me_id))
    if more:
        shell.notice("…and older ones: more words narrow the search.")


def _about(exc: ApiError, chat: OpenChat, seq: int, verb: str = "change") -> Exception:
    """exc, said about message seq of chat where the server's words are general."""
    if exc.status == 404 and exc.code == "not_found":
        return ShellError(f"No message {seq} in {chat.label}.")
    if exc.status == 403 and exc.code == "forbidden":
        owner = chat.messages[seq]["sender"]["username"] if seq in chat.messages else None
        whose = f"is {owner}'s" if owner is not None else "is not yours"
        return ShellError(f"Message {seq} {whose}: you cannot {verb} it.")
    if exc.code == "message_deleted":
        return ShellError(f"Message {seq} was deleted.")
    return exc
