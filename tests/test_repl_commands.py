"""repl.commands: reading a line of the shell, without I/O."""

from __future__ import annotations

import pytest

from chaat.repl.commands import (
    COMMANDS,
    Arg,
    Expected,
    Invocation,
    ParseError,
    Say,
    emoji_of,
    expected_at,
    help_text,
    parse,
    password_problem,
    seq_of,
    username_problem,
)


def invocation(line: str) -> tuple[str, tuple[str, ...]]:
    parsed = parse(line)
    assert isinstance(parsed, Invocation), parsed
    return parsed.command.name, parsed.args


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_a_blank_line_is_nothing(line: str) -> None:
    assert parse(line) is None


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("hello", "hello"),
        ("  indented, kept as typed  ", "  indented, kept as typed  "),
        ("//shrug", "/shrug"),
        ("// not a command", "/ not a command"),
        ("what about /help?", "what about /help?"),
    ],
)
def test_text_is_said_to_the_open_chat(line: str, text: str) -> None:
    assert parse(line) == Say(text)


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        ("/help", "help", ()),
        ("/help dm", "help", ("dm",)),
        ("/login alice", "login", ("alice",)),
        ("/LOGIN alice", "login", ("alice",)),
        ("/users", "users", ()),
        ("/users al", "users", ("al",)),
        ("/requests accepted", "requests", ("accepted",)),
        ("/accept 12", "accept", ("12",)),
        ("/reject carol", "reject", ("carol",)),
        ("/open 3", "open", ("3",)),
        ("/open   weekend  ", "open", ("weekend",)),
        ("/dm bob", "dm", ("bob",)),
        ("/dm bob hi there", "dm", ("bob", "hi there")),
        ("/dm\tbob  it's   spaced  ", "dm", ("bob", "it's   spaced  ")),
        ('/dm bob "quoted"', "dm", ("bob", '"quoted"')),
        ("/group bob carol", "group", (None, "bob", "carol")),
        ("/group #weekend bob carol", "group", ("weekend", "bob", "carol")),
        ('/group "#weekend trip" bob', "group", ("weekend trip", "bob")),
        ('/group #"weekend trip" bob', "group", ("weekend trip", "bob")),
        ("/group bob", "group", (None, "bob")),
        ("/history", "history", ()),
        ("/quit", "quit", ()),
        ("/register alice", "register", ("alice",)),
        ("/register alice Xy-12_ab", "register", ("alice", "Xy-12_ab")),
        ("/reply 3 sure, see you", "reply", ("3", "sure, see you")),
        ("/edit 3  twice  spaced ", "edit", ("3", "twice  spaced ")),
        ("/delete 3", "delete", ("3",)),
        ("/react 3 :+1:", "react", ("3", ":+1:")),
        ("/unreact 3 👍", "unreact", ("3", "👍")),
        ("/search hel wor", "search", ("hel wor",)),
        ("/rename", "rename", ()),
        ("/rename #book club", "rename", ("#book club",)),
        ("/block bob", "block", ("bob",)),
        ("/passwd", "passwd", ()),
    ],
)
def test_commands_and_their_arguments(line: str, name: str, args: tuple[str, ...]) -> None:
    assert invocation(line) == (name, args)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/frobnicate", "Unknown command /frobnicate; /help lists them."),
        ("/", "Unknown command /; /help lists them."),
        ("/login", "Usage: /login USERNAME"),
        ("/login alice bob", "Usage: /login USERNAME"),
        ("/dm", "Usage: /dm USERNAME [TEXT]"),
        ("/group", "Usage: /group [#NAME] USERNAME..."),
        ("/group #weekend", "Usage: /group [#NAME] USERNAME..."),
        ("/group # bob", "Usage: /group [#NAME] USERNAME..."),
        ("/group bob #weekend", "Usage: /group [#NAME] USERNAME..."),
        ("/quit now", "Usage: /quit"),
        ("/edit 3", "Usage: /edit N TEXT"),
        ("/react 3", "Usage: /react N EMOJI"),
        ("/search", "Usage: /search TEXT"),
        ("/passwd now", "Usage: /passwd"),
        ('/group "weekend bob', "Unbalanced quotes."),
    ],
)
def test_bad_commands_say_why_in_one_line(line: str, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.message == message
    assert "\n" not in message


def test_every_command_has_help_and_a_usage() -> None:
    text = help_text()
    for command in COMMANDS.values():
        assert command.help
        assert command.usage.startswith("/" + command.name)
        assert command.usage in text
    assert help_text("dm") == (
        "/dm USERNAME [TEXT]\n    open the direct chat with a friend, sending TEXT if given"
    )
    assert help_text("/history").startswith("/history\n")
    with pytest.raises(ParseError):
        help_text("nope")


def test_the_issue_commands_are_all_there() -> None:
    wanted = {
        "/register USERNAME [INVITE]", "/login USERNAME", "/logout", "/users [PREFIX]", "/friends",
        "/requests [STATUS]", "/add USERNAME", "/accept REQUEST", "/reject REQUEST",
        "/unfriend USERNAME", "/chats", "/open CHAT", "/dm USERNAME [TEXT]",
        "/group [#NAME] USERNAME...", "/members", "/invite USERNAME", "/leave", "/history",
        "/quit", "/help [COMMAND]",
        # contract 1.1
        "/reply N TEXT", "/edit N TEXT", "/delete N", "/react N EMOJI", "/unreact N EMOJI",
        "/search TEXT", "/block USERNAME", "/unblock USERNAME", "/blocks", "/rename [NAME]",
        "/passwd",
    }  # fmt: skip
    assert {c.usage for c in COMMANDS.values()} == wanted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/", Expected(Arg.COMMAND, "/")),
        ("/d", Expected(Arg.COMMAND, "/d")),
        ("/help ", Expected(Arg.COMMAND, "")),
        ("/help d", Expected(Arg.COMMAND, "d")),
        ("/dm ", Expected(Arg.FRIEND, "")),
        ("/dm b", Expected(Arg.FRIEND, "b")),
        ("/DM b", Expected(Arg.FRIEND, "b")),
        ("/open ", Expected(Arg.CHAT, "")),
        ("/open 1", Expected(Arg.CHAT, "1")),
        ("/open we", Expected(Arg.CHAT, "we")),
        ("/add ca", Expected(Arg.USER, "ca")),
        ("/accept ", Expected(Arg.REQUEST, "")),
        ("/requests p", Expected(Arg.STATUS, "p")),
        ("/unfriend b", Expected(Arg.FRIEND, "b")),
        ("/invite ", Expected(Arg.FRIEND, "")),
        ("/group ", Expected(Arg.FRIEND, "")),
        ("/group b", Expected(Arg.FRIEND, "b")),
        ("/group bob c", Expected(Arg.FRIEND, "c", ("bob",))),
        ("/group #we", Expected(Arg.WORD, "#we")),
        ("/group #weekend ", Expected(Arg.FRIEND, "", ("#weekend",))),
        ("/group #weekend bob c", Expected(Arg.FRIEND, "c", ("#weekend", "bob"))),
        ("/login al", Expected(Arg.WORD, "al")),
        ("/reply ", Expected(Arg.MESSAGE, "")),
        ("/edit 1", Expected(Arg.MY_MESSAGE, "1")),
        ("/delete ", Expected(Arg.DELETABLE, "")),
        ("/react 12 ", Expected(Arg.EMOJI, "", ("12",))),
        ("/react 12 :th", Expected(Arg.EMOJI, ":th", ("12",))),
        ("/unreact 12 ", Expected(Arg.MY_EMOJI, "", ("12",))),
        ("/block b", Expected(Arg.ANYONE, "b")),
        ("/unblock ", Expected(Arg.BLOCKED, "")),
    ],
)
def test_what_the_word_under_the_cursor_stands_for(text: str, expected: Expected) -> None:
    assert expected_at(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "hello /dm",
        "//dm b",
        "/dm bob some te",
        "/open 3 ",
        "/quit ",
        "/nope x",
        "/edit 3 new te",
        "/reply 3 ",
        "/search hel",
        "/react 3 :+1: ",
    ],
)
def test_nothing_to_complete(text: str) -> None:
    assert expected_at(text) is None


def test_help_explains_how_to_name_a_group() -> None:
    assert help_text("group") == (
        "/group [#NAME] USERNAME...\n"
        '    create a group chat with friends, named if #NAME is given ("#book club" with a space)'
    )


def test_message_numbers_and_emoji_as_typed() -> None:
    assert seq_of("7") == 7
    for word in ("0", "-1", "seven", "7.0", "\u0667"):  # the last is an Arabic-Indic seven
        with pytest.raises(ParseError, match="is not a message number"):
            seq_of(word)
    assert emoji_of(":+1:") == emoji_of(":thumbsup:") == emoji_of(":THUMBSUP:") == "👍"
    assert emoji_of("🦀") == "🦀"
    assert emoji_of("+1") == "+1"  # any text the server takes, as typed
    with pytest.raises(ParseError, match="Unknown emoji :nope:"):
        emoji_of(":nope:")


def test_usernames_and_passwords_are_checked_as_the_contract_says() -> None:
    for good in ("bob", "Alice.B-2_c", "a" * 32):
        assert username_problem(good) is None
    for bad in ("al", "a" * 33, "1bob", "_bob", "bob smith", "böb"):
        assert username_problem(bad) is not None
    assert password_problem("x" * 8) is None
    assert password_problem("x" * 256) is None
    assert password_problem("x" * 7) == "The password must be at least 8 characters."
    assert password_problem("x" * 257) == "The password must be at most 256 characters."
    assert password_problem("🔑" * 8) is None  # characters, not bytes
