"""Reading a line of the shell: which command, with which arguments. No I/O here.

A line starting with `/` is a command; anything else is a message for the open
chat (`//` sends a message that starts with `/`). The command table below holds
every command's parameters and help text; the completer asks `expected_at` what
the word under the cursor should be.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum


class Arg(StrEnum):
    """What a word on the line stands for; the completer offers candidates by kind."""

    COMMAND = "command"
    WORD = "word"  # anything: a new username, a prefix, a group name
    USER = "user"  # any user of the server
    FRIEND = "friend"  # one of the caller's friends
    CHAT = "chat"  # a chat id (or the chat's name)
    REQUEST = "request"  # a friend request id, or the username of whoever sent it
    STATUS = "status"  # a friend request status
    TEXT = "text"  # the rest of the line, exactly as typed


STATUSES = ("pending", "accepted", "rejected", "all")


@dataclass(frozen=True)
class Param:
    name: str
    kind: Arg
    optional: bool = False
    repeated: bool = False

    @property
    def usage(self) -> str:
        text = self.name + ("..." if self.repeated else "")
        return f"[{text}]" if self.optional else text


@dataclass(frozen=True)
class Command:
    name: str
    params: tuple[Param, ...]
    help: str

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(p.usage for p in self.params)])

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional)

    @property
    def max_args(self) -> int | None:
        """None when the last parameter repeats."""
        if self.params and self.params[-1].repeated:
            return None
        return len(self.params)


def _command(name: str, help: str, *params: Param) -> Command:
    return Command(name=name, params=params, help=help)


_USERNAME = Param("USERNAME", Arg.WORD)
_FRIEND = Param("USERNAME", Arg.FRIEND)

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        _command("help", "list the commands, or explain one", Param("COMMAND", Arg.COMMAND, True)),
        _command("register", "create an account (asks for a password) and log in", _USERNAME),
        _command("login", "log in (asks for the password)", _USERNAME),
        _command("logout", "log out; the token is forgotten"),
        _command("users", "list users, or those whose name starts with PREFIX",
                 Param("PREFIX", Arg.WORD, optional=True)),
        _command("friends", "list your friends"),
        _command("requests", "list friend requests: pending (default), accepted, rejected or all",
                 Param("STATUS", Arg.STATUS, optional=True)),
        _command("add", "send a friend request", Param("USERNAME", Arg.USER)),
        _command("accept", "accept a friend request, by its id or the sender's name",
                 Param("REQUEST", Arg.REQUEST)),
        _command("reject", "reject a friend request, by its id or the sender's name",
                 Param("REQUEST", Arg.REQUEST)),
        _command("unfriend", "stop being friends", _FRIEND),
        _command("chats", "list your chats with unread counts and their last message"),
        _command("open", "switch to a chat (Tab shows the ids with names)",
                 Param("CHAT", Arg.CHAT)),
        _command("dm", "open the direct chat with a friend, sending TEXT if given",
                 _FRIEND, Param("TEXT", Arg.TEXT, optional=True)),
        _command("group", "create a group chat with friends (quote a NAME with spaces)",
                 Param("NAME", Arg.WORD), Param("USERNAME", Arg.FRIEND, repeated=True)),
        _command("members", "list who is in the open chat"),
        _command("invite", "add a friend to the open group", _FRIEND),
        _command("leave", "leave the open group"),
        _command("history", "show earlier messages of the open chat; again for more"),
        _command("quit", "leave the shell (Ctrl-D does too)"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Invocation:
    """A command with its arguments, checked against its parameters."""

    command: Command
    args: tuple[str, ...]


@dataclass(frozen=True)
class Say:
    """Text to send to the open chat."""

    text: str


class ParseError(ValueError):
    """The line is not a valid command; the message says why, in one line."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def parse(line: str) -> Invocation | Say | None:
    """What line asks for; None for a blank line."""
    if not line.strip():
        return None
    if line.startswith("//"):
        return Say(line[1:])
    if not line.startswith("/"):
        return Say(line)
    name, rest = _head(line)
    command = COMMANDS.get(name.lower())
    if command is None:
        raise ParseError(f"Unknown command /{name}; /help lists them.")
    args = _split(command, rest)
    too_many = command.max_args is not None and len(args) > command.max_args
    if len(args) < command.min_args or too_many:
        raise ParseError(f"Usage: {command.usage}")
    return Invocation(command, tuple(args))


def _head(line: str) -> tuple[str, str]:
    """The command name of a line starting with / and the text after it."""
    match = re.match(r"/(\S*)(.*)", line, re.DOTALL)
    assert match is not None  # the line starts with /
    return match[1], match[2]


def _split(command: Command, rest: str) -> list[str]:
    if command.params and command.params[-1].kind is Arg.TEXT:
        # The words before the text, then the text exactly as typed (quotes and all).
        words = len(command.params) - 1
        parts = rest.lstrip().split(maxsplit=words)
        if len(parts) > words:
            head = rest.lstrip()
            for word in parts[:words]:
                head = head[len(word) :].lstrip()
            return [*parts[:words], head]
        return parts
    try:
        return shlex.split(rest)
    except ValueError:
        raise ParseError("Unbalanced quotes.") from None


@dataclass(frozen=True)
class Expected:
    """What the word being typed should be, for completion."""

    kind: Arg
    word: str  # the part already typed, replaced by the completion
    before: tuple[str, ...] = ()  # the command's arguments already typed


def expected_at(text: str) -> Expected | None:
    """What the word at the end of text (the line up to the cursor) stands for, if anything."""
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, rest = _head(text)
    if not rest:
        return Expected(Arg.COMMAND, text)
    command = COMMANDS.get(name.lower())
    if command is None:
        return None
    words = rest.split()
    if rest == "" or rest[-1].isspace():
        typed, word = words, ""
    else:
        typed, word = words[:-1], words[-1]
    index = len(typed)
    if index < len(command.params):
        param = command.params[index]
    elif command.params and command.params[-1].repeated:
        param = command.params[-1]
    else:
        return None
    if param.kind is Arg.TEXT:
        return None
    return Expected(param.kind, word, tuple(typed))


def help_text(name: str | None = None) -> str:
    """The help for one command, or for all of them."""
    if name is not None:
        command = COMMANDS.get(name.lstrip("/").lower())
        if command is None:
            raise ParseError(f"Unknown command /{name.lstrip('/')}; /help lists them.")
        return f"{command.usage}\n    {command.help}"
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"{c.usage.ljust(width)}  {c.help}" for c in COMMANDS.values()]
    lines.append("Anything else you type is sent to the open chat (// sends a leading /).")
    lines.append("Tab completes commands, friends and chats; Ctrl-D quits.")
    return "\n".join(lines)
