"""What the shell does with messages a new user would trip over: lines typed while the
server is away, bursts in other chats, unread counts."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import befriend, new_chat, sign_up
from test_repl import Open, completions, history, live, needs_events, prompt_of, send, until, url_of

from chaat.app import create_app
from chaat.settings import Settings

pytest_plugins = ["test_repl"]  # the shell's harness: the terminal, server and api fixtures


def losing_answers(app: web.Application, times: int) -> web.Application:
    """app, dropping the connection after storing each of the first `times` messages sent,
    as a network failing at the worst moment would: the send happened, the answer is lost."""
    left = [times]

    @web.middleware
    async def lose(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "POST" and request.path.endswith("/messages") and left[0]:
            left[0] -= 1
            assert request.transport is not None
            request.transport.abort()
        return response

    app.middlewares.append(lose)
    return app


async def test_a_send_whose_answer_was_lost_is_stored_and_shown_once(
    terminal: Open, api: TestClient, settings: Settings
) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice, bob)
    chat = await new_chat(api, alice, ["bob"])
    # Two lost answers: the quick retry fails too, and the line waits to be sent again
    server = TestServer(losing_answers(create_app(settings), times=2))
    await server.start_server()
    try:
        term = await terminal(url_of(server))
        await term.login("alice")
        await term.run(f"/open {chat['id']}", "No messages yet")
        term.type("only once, please")
        await term.expect(
            r"Not sent yet: the server cannot be reached \(the connection was closed\)"
        )
        await until(lambda: prompt_of(term) == "alice @bob> ")  # sent again, and taken
        assert re.search(r"(?m)^  1 \d\d:\d\d alice: only once, please\n", term.text)
        await term.run("and again", "alice: and again\n")
        await term.settle()
        stored = [m["body"] for m in await history(url_of(server).rstrip("/"), alice, chat["id"])]
    finally:
        await term.close()
        await server.close()
    assert stored == ["only once, please", "and again"]
    assert term.text.count("alice: only once, please") == 1


async def test_unsent_lines_are_dropped_with_a_word_when_the_session_ends(
    terminal: Open, api: TestClient
) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice, bob)
    chat = await new_chat(api, alice, ["bob"])
    term = await terminal()
    await term.login("alice")
    await term.run(f"/open {chat['id']}", "No messages yet")
    await api.server.close()
    term.type("one", "two")
    await until(lambda: prompt_of(term) == "alice @bob (2 unsent)> ")
    await term.run("/logout", "Logged out.")
    assert "(2 unsent messages dropped: the server was not reachable.)" in term.text
    assert prompt_of(term) == "chaat> "


@needs_events
async def test_a_burst_in_another_chat_is_one_line(terminal: Open, api: TestClient) -> None:
    alice, bob, carol = [await sign_up(api, name) for name in ("alice", "bob", "carol")]
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    group = await new_chat(api, alice, ["bob", "carol"], name="book club")
    direct = await new_chat(api, alice, ["bob"])
    term = await terminal(digest_longest=60.0)  # however slowly the 120 sends go
    await term.login("alice")
    await live(term)
    await term.run(f"/open {direct['id']}", "No messages yet")
    for n in range(1, 121):
        await send(api, (bob, carol)[n % 2].token, group["id"], f"message {n}")
    told = await term.expect(r"» #book club .*\n")
    assert told == (
        f"» #book club 120 new messages from bob, carol; the last, bob: message 120  "
        f"(/open {group['id']})\n"
    )
    await term.settle()
    assert term.text.count("» #book club") == 1
    # Once the burst is told, the next message is a line of its own
    await send(api, carol.token, group["id"], "anyone?")
    await term.expect(rf"» #book club carol: anyone\?  \(/open {group['id']}\)\n")
    # The chat's unread count, as completion and /chats show it
    await until(lambda: "121 unread" in completions(term, "/open #book")[0].display_meta_text)
    await term.run("/chats", rf"{group['id']}  #book club  121 unread")


@needs_events
async def test_a_new_chat_with_a_message_counts_it_once(terminal: Open, api: TestClient) -> None:
    alice, carol = await sign_up(api, "alice"), await sign_up(api, "carol")
    await befriend(api, alice, carol)
    term = await terminal()
    await term.login("alice")
    await live(term)
    chat = await new_chat(api, carol, ["alice"], message="psst")
    await term.expect(rf"» @carol carol: psst  \(/open {chat['id']}\)")
    found = completions(term, "/open @c")
    assert [c.display_meta_text for c in found] == ["direct chat with carol, 1 unread"]
    out = await term.run("/chats", r"@carol.*\n")
    assert re.search(r"@carol  1 unread   carol: psst", out), out
