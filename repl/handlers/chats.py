"""/chats, /open, /dm, /group, /rename, /members, /invite, /leave, /history, and text for the
open chat."""

from __future__ import annotations

import contextlib
import shlex
import uuid
from typing import TYPE_CHECKING

from .. import outbox
from ..chat_view import open_chat, open_chat_or_fail, show_earlier
from ..client import ApiError, Chat
from ..commands import Arg, Param, ShellError, command
from ..render import chat_phrase, chat_row, is_called, members, when
from ..state import load_chats

if TYPE_CHECKING:
    from ..shell import Shell

_FRIEND = Param("USERNAME", Arg.FRIEND)


@command("chats", "list your chats with unread counts and their last message")
async def chats(shell: Shell) -> None:
    state = shell.state
    await load_chats(shell.client, state)
    if not state.chats:
        shell.say("No chats yet: /dm USERNAME or /group USERNAME... starts one.")
        return
    width = max(len(state.label(c)) for c in state.chats)
    for chat in state.chats:
        last = chat.get("last_message")
        hidden = last is not None and state.hides(last)
        shell.say(chat_row(chat, me_id=state.me_id, width=width, hide_last=hidden))


@command("open", "switch to a chat (Tab shows the ids with names)", Param("CHAT", Arg.CHAT))
async def open_(shell: Shell, ref: str) -> None:
    await open_chat(shell, await _find_chat(shell, ref))


async def _find_chat(shell: Shell, ref: str) -> Chat:
    """The chat with id ref, or called ref (a group's name or members, a friend's username)."""
    state = shell.state
    if ref.isdigit():
        cached = state.chat(int(ref))
        if cached is not None:
            return cached
        try:
            return await shell.client.get_chat(int(ref))
        except ApiError as exc:
            if exc.status == 404:
                raise ShellError(f"No chat {ref}: /chats lists yours.") from None
            raise
    for attempt in range(2):
        if attempt:
            await load_chats(shell.client, state)
        matches = [c for c in state.chats if is_called(c, ref, me_id=state.me_id)] or [
            c for c in state.chats if is_called(c, ref, me_id=state.me_id, fold=True)
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(str(c["id"]) for c in matches)
            raise ShellError(f"Several chats are called {ref} ({ids}): use the id.")
    raise ShellError(f"No chat called {ref}: /chats lists yours.")


@command("dm", "open the direct chat with a friend, sending TEXT if given",
         _FRIEND, Param("TEXT", Arg.TEXT, optional=True))  # fmt: skip
async def dm(shell: Shell, username: str, text: str | None = None) -> None:
    blocked = shell.state.blocked(username)
    if blocked is not None:
        name = blocked["username"]
        raise ShellError(f"You block {name}: /unblock {name} first, then /add {name}.")
    client_id = uuid.uuid4().hex if text is not None else None
    chat = await shell.with_retry(
        lambda: shell.client.create_chat(
            [username], kind="direct", message=text, client_id=client_id
        )
    )
    await open_chat(shell, chat)


@command(
    "group",
    'create a group chat with friends, named if #NAME is given ("#book club" with a space)',
    Param("#NAME", Arg.WORD, prefix="#"),
    Param("USERNAME", Arg.FRIEND, repeated=True),
)
async def group(shell: Shell, name: str | None, *usernames: str) -> None:
    me_id = shell.state.me_id
    try:
        chat = await shell.client.create_chat(list(usernames), kind="group", name=name)
    except ApiError as exc:
        first = usernames[0]
        meant_a_name = name is None and shell.state.friend(first) is None
        if meant_a_name and exc.code in ("user_not_found", "not_friends"):
            example = " ".join(["/group", f'"#{first}"', *usernames[1:]])
            hint = f"a group's name starts with #: {example}"
            raise ShellError(f"{exc.describe()} ({hint})") from None
        raise
    what = "a group" if chat["name"] is None else f"#{chat['name']}"
    shell.say(f"Created {what} with {members(chat, me_id=me_id)}.")
    shell.state.remember_chat(chat)  # at once: its chat.created may still be on its way
    await open_chat(shell, chat)


@command("rename", "name the open group (spaces allowed); without NAME, take its name away",
         Param("NAME", Arg.TEXT, optional=True))  # fmt: skip
async def rename(shell: Shell, text: str | None = None) -> None:
    chat = open_chat_or_fail(shell)
    name = _group_name(text)
    updated = await shell.client.rename_chat(chat.id, name)
    shell.state.remember_chat(updated)
    if name is None:
        shell.say(f"The group has no name now: it shows as {shell.state.label(updated)}.")
    else:
        shell.say(f"Renamed the group to {shell.state.label(updated)}.")


def _group_name(text: str | None) -> str | None:
    """The name /rename was given: quotes and one leading # taken off; None for none."""
    text = (text or "").strip()
    if text[:1] in ('"', "'"):
        with contextlib.suppress(ValueError):
            words = shlex.split(text)
            if len(words) == 1:
                text = words[0]
    text = text.removeprefix("#")
    return text or None


@command("members", "list who is in the open chat, and how far each has read")
async def members_(shell: Shell) -> None:
    chat = open_chat_or_fail(shell)
    for participant in await shell.client.list_participants(chat.id):
        user = participant["user"]
        you = "  [you]" if user["id"] == shell.state.me_id else ""
        line = f"{user['username']}{you}  (joined {when(participant['joined_at'])}"
        read = participant.get("last_read_seq")
        line += f", has read up to {read})" if read else ")"
        shell.say(line)


@command("invite", "add a friend to the open group", _FRIEND)
async def invite(shell: Shell, username: str) -> None:
    chat = open_chat_or_fail(shell)
    updated = await shell.client.add_participant(chat.id, username)
    shell.state.remember_chat(updated)
    shell.say(f"Added {username} to {chat_phrase(updated, me_id=shell.state.me_id)}.")


@command("leave", "leave the open group")
async def leave(shell: Shell) -> None:
    chat = open_chat_or_fail(shell)
    me_id = shell.state.me_id
    assert me_id is not None
    cached = shell.state.chat(chat.id)
    shell.leaving.add(chat.id)  # our own leaving needs no "you are no longer in" notice
    await shell.client.remove_participant(chat.id, me_id)
    shell.state.open = None
    shell.state.forget_chat(chat.id)
    left = chat_phrase(cached, me_id=me_id) if cached is not None else chat.label
    shell.say(f"You left {left}.")


@command("history", "show earlier messages of the open chat; again for more")
async def history(shell: Shell) -> None:
    await show_earlier(shell)


async def say(shell: Shell, text: str) -> None:
    """Send a line to the open chat, now or once the server is back (see outbox)."""
    if shell.state.me is None:
        raise ShellError("You are not logged in: /login USERNAME or /register USERNAME.")
    await outbox.send(shell, open_chat_or_fail(shell).id, text)
