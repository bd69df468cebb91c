"""The shell speaks contract 1.1: replies, edits, deletions and reactions, typing, search."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import befriend, new_chat, sign_up
from test_repl import (
    Open,
    Terminal,
    completions,
    live,
    needs_events,
    send,
    until,
    url_of,
)

from chaat.app import create_app
from chaat.repl import live as repl_live
from chaat.settings import Settings

pytest_plugins = ["test_repl"]  # the shell's harness: the terminal, server and api fixtures


def line(seq: int, sender: str, body: str) -> str:
    """A message of the open chat as the shell prints it, as a regex (from a line's start)."""
    return rf"(?m)^{message_line(seq, sender, body)}"


def message_line(seq: int, sender: str, body: str) -> str:
    return rf" {seq:>2} \d\d:\d\d {sender}: {re.escape(body)}\n"


async def two_friends(api: TestClient, terminal: Open) -> tuple[Terminal, Terminal, int]:
    """alice and bob logged in with live events, both in their direct chat; its id."""
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice, bob)
    term_a, term_b = await terminal(), await terminal()
    await term_a.login("alice")
    await term_b.login("bob")
    await live(term_a, term_b)
    out = await term_a.run("/dm bob lunch today?", line(1, "alice", "lunch today?"))
    chat_id = int(re.search(r"\(chat (\d+)\)", out)[1])  # type: ignore[index]
    await term_b.expect(rf"» @alice alice: lunch today\?  \(/open {chat_id}\)")
    await term_b.run(f"/open {chat_id}", line(1, "alice", "lunch today?"))
    return term_a, term_b, chat_id


@needs_events
async def test_replies_edits_deletions_and_reactions(terminal: Open, api: TestClient) -> None:
    alice, bob, chat_id = await two_friends(api, terminal)

    # A reply quotes the first line of what it answers, on both screens
    quoted = r"(?m)^ {10}> alice: lunch today\?\n" + message_line(2, "bob", "yes! 12:30?")
    await bob.run("/reply 1 yes! 12:30?", quoted)
    await alice.expect(quoted)

    # Reactions, edits and deletions are one line each, on both sides, nothing redrawn
    await bob.run("/react 1 :+1:", r"» you reacted 👍 to message 1 \(alice: lunch today\?\)\n")
    await alice.expect(r"» bob reacted 👍 to message 1 \(alice: lunch today\?\)\n")
    await alice.run("/react 1 ❤️", r"» you reacted ❤️ to message 1 \(alice: lunch today\?\)\n")
    await bob.expect(r"» alice reacted ❤️ to message 1 \(alice: lunch today\?\)\n")
    await alice.run("/edit 1 lunch tomorrow?", r"» you edited message 1: lunch tomorrow\?\n")
    await bob.expect(r"» alice edited message 1: lunch tomorrow\?\n")
    await alice.run("oops, wrong chat", line(3, "alice", "oops, wrong chat"))
    await bob.expect(line(3, "alice", "oops, wrong chat"))
    deleted = r"» message 3 \(alice: oops, wrong chat\) was deleted\n"
    await alice.run("/delete 3", deleted)
    await bob.expect(deleted)
    await bob.run("/unreact 1 👍", r"» you took back 👍 on message 1 \(alice: lunch tomorrow\?\)")
    await alice.expect(r"» bob took back 👍 on message 1 \(alice: lunch tomorrow\?\)")
    for term in (alice, bob):
        await term.settle()
        assert term.text.count("--- @") == 1  # opened once, never redrawn
        for what in ("reacted 👍", "reacted ❤️", "edited message 1", "was deleted", "took back"):
            assert term.text.count(what) == 1, (what, term.text)

    # Opening the chat again shows each message as it is now
    out = await bob.run(f"/open {chat_id}", r"\(message deleted\)\n")
    assert re.search(
        r"\n  1 \d\d:\d\d alice: lunch tomorrow\?  \(edited\)\n {10}❤️ 1\n"
        r" {10}> alice: lunch tomorrow\?\n  2 \d\d:\d\d bob: yes! 12:30\?\n"
        r"  3 \d\d:\d\d alice: \(message deleted\)\n$",
        out,
    ), out

    # What cannot be done says why, about the message
    await bob.run("/edit 1 hijacked", r"error: Message 1 is alice's: you can only edit your own\.")
    await bob.run("/delete 1", r"error: Message 1 is alice's: you cannot delete it\.")
    await bob.run("/edit 99 hm", r"error: No message 99 in @alice\.")
    await bob.run("/reply 99 hm", r"error: No message 99 in @alice to reply to\.")
    await bob.run("/react 3 :+1:", r"error: Message 3 was deleted\.")
    await bob.run("/react 1 :nope:", r"error: Unknown emoji :nope:")
    await bob.run("/react one :+1:", r"error: one is not a message number")
    assert "Traceback" not in alice.text + bob.text


@needs_events
async def test_message_numbers_and_emoji_complete(terminal: Open, api: TestClient) -> None:
    alice, bob, _ = await two_friends(api, terminal)
    await bob.run("/reply 1 sure", line(2, "bob", "sure"))
    await bob.run("/react 1 :tada:", "reacted 🎉")
    await alice.expect("bob reacted 🎉")
    await alice.run("/react 1 :+1:", "reacted 👍")
    await bob.expect("alice reacted 👍")

    def texts(text: str) -> list[str]:
        return [c.text for c in completions(bob, text)]

    assert texts("/reply ") == ["2", "1"]  # newest first
    assert completions(bob, "/reply ")[1].display_meta_text == "alice: lunch today?"
    assert texts("/edit ") == ["2"]  # yours only
    assert texts("/delete ") == ["2"]
    assert texts("/react 1 ")[:2] == ["🎉", "👍"]  # those on the message first, to join in
    assert texts("/react 1 :th") == ["👍", "🤔"]
    assert [c.display_text for c in completions(bob, "/react 1 :th")] == [
        "👍 :thumbsup:",
        "🤔 :thinking:",
    ]
    assert texts("/unreact 1 ") == ["🎉"]  # yours only
    await alice.run("/delete 1", "was deleted")
    await bob.expect("was deleted")
    assert texts("/reply ") == ["2"]  # no reply to a deleted message


@needs_events
async def test_who_is_typing_shows_in_the_toolbar(terminal: Open, api: TestClient) -> None:
    alice_, bob_ = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice_, bob_)
    alice, bob = await terminal(typing_shown=1.0), await terminal()
    await alice.login("alice")
    await bob.login("bob")
    await live(alice, bob)
    chat = await new_chat(api, alice_, ["bob"])
    await alice.run(f"/open {chat['id']}", "No messages yet")
    await bob.run(f"/open {chat['id']}", "No messages yet")

    bob.pipe.send_text("hello the")  # typed, not sent
    await until(lambda: alice.shell.session.bottom_toolbar == "bob is typing…")
    await until(lambda: alice.shell.session.bottom_toolbar is None)  # about a second later
    bob.type("re")  # a notice again after 2 s at most, and the message ends it
    await alice.expect(line(1, "bob", "hello there"))
    assert alice.shell.session.bottom_toolbar is None
    assert bob.shell.session.bottom_toolbar is None


async def test_typing_shows_until_it_runs_out_or_the_message_comes(
    terminal: Open, api: TestClient
) -> None:
    """The toolbar, fed `typing` events as the server sends them."""
    alice_, bob_ = await sign_up(api, "alice"), await sign_up(api, "bob")
    carol_ = await sign_up(api, "carol")
    await befriend(api, alice_, bob_)
    await befriend(api, alice_, carol_)
    group = await new_chat(api, alice_, ["bob", "carol"], kind="group", name="lunch")
    other = await new_chat(api, alice_, ["bob"])
    alice = await terminal(typing_shown=0.5)
    await alice.login("alice")
    await alice.run(f"/open {group['id']}", "No messages yet")
    shell = alice.shell

    async def typing(chat_id: int, who: Any) -> None:
        user = {"id": who.id, "username": who.username}
        await repl_live.on_event(
            shell, {"type": "typing", "data": {"chat_id": chat_id, "user": user}}
        )

    await typing(group["id"], bob_)
    assert shell.session.bottom_toolbar == "bob is typing…"
    await typing(group["id"], carol_)
    assert shell.session.bottom_toolbar == "bob and carol are typing…"
    await typing(other["id"], carol_)  # not the open chat
    assert shell.session.bottom_toolbar == "bob and carol are typing…"
    await send(api, bob_.token, group["id"], "pizza?")  # bob's message ends his notice
    await until(lambda: shell.session.bottom_toolbar == "carol is typing…")
    await until(lambda: shell.session.bottom_toolbar is None)  # half a second after carol's
    await typing(group["id"], bob_)
    assert shell.session.bottom_toolbar == "bob is typing…"
    await alice.run(f"/open {other['id']}", "No messages yet")  # another chat: nobody types
    assert shell.session.bottom_toolbar is None


def counting_typing(app: web.Application, notices: list[str]) -> web.Application:
    """app, answering POST .../typing itself (204) and keeping the paths asked."""

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/typing"):
            notices.append(request.path)
            return web.Response(status=204)
        return await handler(request)

    app.middlewares.append(count)
    return app


async def test_typing_sends_one_notice_per_two_seconds_at_most(
    terminal: Open, api: TestClient, settings: Settings
) -> None:
    alice_, bob_ = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice_, bob_)
    chat = await new_chat(api, alice_, ["bob"])
    notices: list[str] = []
    server = TestServer(counting_typing(create_app(settings), notices))
    await server.start_server()
    try:
        term = await terminal(url_of(server), typing_every=0.5)
        await term.login("alice")
        buffer = term.shell.session.default_buffer
        term.pipe.send_text("/help")  # a command is not a message being typed
        await until(lambda: buffer.text == "/help")
        await asyncio.sleep(0.1)
        assert notices == []
        term.type("")
        await term.expect("Tab completes")
        await term.run(f"/open {chat['id']}", "No messages yet")
        term.pipe.send_text("hello, how are you")  # one notice for many keys
        await until(lambda: len(notices) == 1)
        await until(lambda: buffer.text == "hello, how are you")
        assert notices == [f"/v1/chats/{chat['id']}/typing"]
        await asyncio.sleep(0.6)  # after typing_every, a key is news again
        term.pipe.send_text("?")
        await until(lambda: len(notices) == 2)
        term.type("")
        await term.expect(line(1, "alice", "hello, how are you?"))
        await asyncio.sleep(0.1)
        assert len(notices) == 2
    finally:
        await term.close()
        await server.close()


async def test_search_finds_messages_in_your_chats(terminal: Open, api: TestClient) -> None:
    alice_, bob_ = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice_, bob_)
    chat = await new_chat(api, alice_, ["bob"])
    await send(api, bob_.token, chat["id"], "Hello, World!")
    await send(api, bob_.token, chat["id"], "nothing to see")
    term = await terminal()
    await term.login("alice")
    out = await term.run("/search hel wor", rf"\(/open {chat['id']}\)\n")
    assert re.fullmatch(rf"@bob   1 \d\d:\d\d bob: Hello, World!  \(/open {chat['id']}\)\n", out)
    await term.run("/search goodbye", "No messages match.")
    await term.run(
        "/search ?!", r"error: The search must hold a word: a run of letters and digits\.\n"
    )
