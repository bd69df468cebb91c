"""Reading a line of the shell: which command, with which arguments. No I/O here.

A line starting with `/` is a command; anything else is a message for the open
chat (`//` sends a message that starts with `/`). Every command is declared once,
next to its handler in `handlers/`, with the `@command` decorator below, which
puts it in COMMANDS; the completer asks `expected_at` what the word under the
cursor should be.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


class Arg(StrEnum):
    """What a word on the line stands for; the completer offers candidates by kind."""

    COMMAND = "command"
    WORD = "word"  # anything: a new username, a prefix, a group name
    USER = "user"  # any user of the server
    FRIEND = "friend"  # one of the caller's friends
    CHAT = "chat"  # a chat id (or the chat's name)
    REQUEST = "request"  # a friend request id, or the username of whoever sent it
    STATUS = "status"  # a friend request status
    ANYONE = "anyone"  # any user of the server, friends included
    BLOCKED = "blocked"  # a user the caller blocks
    MESSAGE = "message"  # the number (seq) of a message of the open chat
    MY_MESSAGE = "my message"  # ... that the caller wrote
    DELETABLE = "deletable"  # ... that the caller may delete (theirs; any, in a group they made)
    EMOJI = "emoji"  # an emoji, or its :shortcode:
    MY_EMOJI = "my emoji"  # an emoji the caller reacted with, to the message before it
    TEXT = "text"  # the rest of the line, exactly as typed


STATUSES = ("pending", "accepted", "rejected", "all")

EMOJI = {
    "+1": "👍",
    "thumbsup": "👍",
    "-1": "👎",
    "heart": "❤️",
    "joy": "😂",
    "smile": "😄",
    "tada": "🎉",
    "eyes": "👀",
    "fire": "🔥",
    "pray": "🙏",
    "clap": "👏",
    "thinking": "🤔",
    "open_mouth": "😮",
    "cry": "😢",
    "rocket": "🚀",
    "100": "💯",
    "white_check_mark": "✅",
}
"""The :shortcodes: /react understands, for terminals where emoji are hard to type."""


@dataclass(frozen=True)
class Param:
    """One argument of a command.

    A parameter with a prefix (`#NAME`) is optional and recognised by it: a word
    without the prefix is the next parameter, and the handler gets None.
    """

    name: str
    kind: Arg
    optional: bool = False
    repeated: bool = False
    prefix: str = ""

    @property
    def usage(self) -> str:
        text = self.name + ("..." if self.repeated else "")
        return f"[{text}]" if self.optional or self.prefix else text


Handler = Callable[..., Awaitable[bool | None]]
"""handler(shell, *args): a False answer ends the shell."""

H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Command:
    name: str
    params: tuple[Param, ...]
    help: str
    handler: Handler
    needs_login: bool = True

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(p.usage for p in self.params)])


COMMANDS: dict[str, Command] = {}
"""Every command by name, in the order they are declared (the order of /help)."""


def command(name: str, help: str, *params: Param, needs_login: bool = True) -> Callable[[H], H]:
    """Declare the decorated handler as the command /name, with its parameters and help."""

    def declare(handler: H) -> H:
        if name in COMMANDS:
            raise ValueError(f"/{name} is declared twice")
        COMMANDS[name] = Command(name, params, help, handler, needs_login)
        return handler

    return declare


@dataclass(frozen=True)
class Invocation:
    """A command with its arguments, checked against its parameters.

    args has one entry per parameter given (None for a prefixed one left out), and
    every word of a repeated last parameter.
    """

    command: Command
    args: tuple[str | None, ...]


@dataclass(frozen=True)
class Say:
    """Text to send to the open chat."""

    text: str


class ParseError(ValueError):
    """The line is not a valid command; the message says why, in one line."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ShellError(Exception):
    """A command cannot go on; the message says why, in one line."""


USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{2,31}")
"""The shape of a username (the contract's rule, checked before asking for passwords)."""

PASSWORD_LENGTH = range(8, 257)


def username_problem(username: str) -> str | None:
    """Why username cannot be registered, as the contract says; None when it can."""
    if USERNAME.fullmatch(username):
        return None
    return (
        "A username is 3 to 32 characters of A-Z a-z 0-9 _ . - and starts with a letter "
        f"({username} is not)."
    )


def password_problem(password: str) -> str | None:
    """Why password cannot be anyone's, as the contract says; None when it can."""
    if len(password) < PASSWORD_LENGTH.start:
        return f"The password must be at least {PASSWORD_LENGTH.start} characters."
    if len(password) >= PASSWORD_LENGTH.stop:
        return f"The password must be at most {PASSWORD_LENGTH.stop - 1} characters."
    return None


def seq_of(word: str) -> int:
    """A message number as typed (`7`); ParseError for anything else."""
    if not (word.isascii() and word.isdigit()) or int(word) < 1:
        raise ParseError(f"{word} is not a message number: it is the number before a message.")
    return int(word)


def emoji_of(word: str) -> str:
    """The emoji word stands for: itself, or the one its :shortcode: names."""
    if len(word) > 2 and word.startswith(":") and word.endswith(":"):
        emoji = EMOJI.get(word[1:-1].lower())
        if emoji is None:
            raise ParseError(f"Unknown emoji {word}: type the emoji itself, or Tab for some.")
        return emoji
    return word


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
    args = _bind(command, _split(command, rest))
    if args is None:
        raise ParseError(f"Usage: {command.usage}")
    return Invocation(command, args)


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


def _bind(command: Command, words: list[str]) -> tuple[str | None, ...] | None:
    """The handler's arguments for the words typed; None when they do not fit."""
    args: list[str | None] = []
    rest = list(words)
    prefixes = tuple(p.prefix for p in command.params if p.prefix)
    if prefixes and any(w.startswith(prefixes) for w in rest[1:]):
        return None  # a prefixed parameter (#NAME) is only ever the first
    for param in command.params:
        if param.prefix:
            if rest and rest[0].startswith(param.prefix):
                value = rest.pop(0)[len(param.prefix) :]
                if not value:
                    return None
                args.append(value)
            else:
                args.append(None)
        elif param.repeated:
            if not rest and not param.optional:
                return None
            args.extend(rest)
            rest = []
        elif rest:
            args.append(rest.pop(0))
        elif not param.optional:
            return None
    return None if rest else tuple(args)


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
    param = _param_at(command.params, [*typed, word])
    if param is None or param.kind is Arg.TEXT:
        return None
    return Expected(param.kind, word, tuple(typed))


def _param_at(params: tuple[Param, ...], words: list[str]) -> Param | None:
    """The parameter the last of words fills, if any."""
    index = 0
    for position, word in enumerate(words):
        while index < len(params) and params[index].prefix:
            if word.startswith(params[index].prefix):
                break
            index += 1  # left out: the word is the next parameter
        if index >= len(params):
            if params and params[-1].repeated:
                index = len(params) - 1
            else:
                return None
        if position == len(words) - 1:
            return params[index]
        if not params[index].repeated:
            index += 1
    return None


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
    lines.append("N is a message's number, shown before it in the open chat.")
    lines.append("Tab completes commands, friends, chats, message numbers and emoji; Ctrl-D quits.")
    return "\n".join(lines)
