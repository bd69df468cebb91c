"""The chat shell, typed into through a pipe, against the real app on a real port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import PASSWORD, User, befriend, new_chat, sign_up
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import fragment_list_to_text
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from chaat.app import create_app
from chaat.repl.client import ApiError
from chaat.repl.shell import Shell, run, server_problem, url_problem
from chaat.routes import routes
from chaat.settings import Settings

EVENTS_SERVED = any(getattr(r, "path", None) == "/v1/events" for r in routes)
WAIT = 5.0
"""Seconds to wait for the shell to print something."""

needs_events = pytest.mark.skipif(not EVENTS_SERVED, reason="needs /v1/events (issue 4)")


class Transcript(DummyOutput):
    """An output that keeps what the shell prints, and not the prompt it redraws.

    prompt-toolkit's renderer turns autowrap off while it draws the prompt and back
    on when done; print_formatted_text turns it on before printing. So text written
    while autowrap is on is what the shell printed.
    """

    def __init__(self) -> None:
        self.text = ""
        self._printing = True

    def write(self, data: str) -> None:
        if self._printing:
            self.text += data.replace("\r\n", "\n")

    def disable_autowrap(self) -> None:
        self._printing = False

    def enable_autowrap(self) -> None:
        self._printing = True


class Terminal:
    """A shell running in the background, typed into through a pipe."""

    def __init__(self, server_url: str, pipe: PipeInput, **options: Any) -> None:
        self.pipe = pipe
        self.output = Transcript()
        self.shell = Shell(
            server_url,
            input=pipe,
            output=self.output,
            **{"retry_delays": (0.05,), "reconnect_delays": (0.05, 0.1, 0.2), **options},
        )
        self.task = asyncio.create_task(self.shell.run())
        self.seen = 0  # how far expect() has read

    @property
    def text(self) -> str:
        return self.output.text

    def type(self, *lines: str) -> None:
        for line in lines:
            self.pipe.send_text(line + "\r")

    async def expect(self, pattern: str) -> str:
        """Wait for pattern (a regex) in what is printed after the last match; the match."""
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(WAIT):
                while not (match := regex.search(self.text, self.seen)):
                    assert not self.task.done(), f"the shell ended:\n{self.text}"
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(
                f"no {pattern!r} in what the shell printed:\n{self.text}"
            ) from None
        self.seen = match.end()
        return match.group(0)

    async def run(self, line: str, pattern: str) -> str:
        """Type line and wait for pattern; everything printed from then until the match."""
        start = self.seen = len(self.text)
        self.type(line)
        await self.expect(pattern)
        return self.text[start : self.seen]

    async def settle(self) -> str:
        """What gets printed until the shell goes quiet (a /help round trip)."""
        start = self.seen = len(self.text)
        self.type("/help quit")
        await self.expect(r"/quit\n    leave the shell")
        return self.text[start : self.seen]

    async def login(self, username: str, password: str = PASSWORD) -> None:
        self.type(f"/login {username}", password)
        await self.expect(f"Logged in as {username}.")

    async def register(self, username: str, password: str = PASSWORD) -> None:
        self.type(f"/register {username}", password, password)
        await self.expect(f"Logged in as {username}.")

    async def close(self) -> int | None:
        if not self.task.done():
            self.pipe.send_text("\x04")  # Ctrl-D
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(self.task)
            except TimeoutError:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task
        self.pipe.close()
        return None if self.task.cancelled() else self.task.result()


Open = Callable[..., Awaitable[Terminal]]


async def live(*terms: Terminal) -> None:
    """Wait for the shells' event streams to be up: from `ready` on, every event reaches them."""
    for term in terms:
        await until(lambda t=term: t.shell.following)  # type: ignore[misc]


async def until(condition: Callable[[], bool]) -> None:
    """Wait for condition to hold, WAIT seconds at most."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110  (nothing to wait on but the shell's state)
            await asyncio.sleep(0.01)


def completions(terminal: Terminal, text: str) -> list[Completion]:
    return list(terminal.shell.completer.get_completions(Document(text), CompleteEvent()))


def url_of(server: TestServer) -> str:
    return str(server.make_url("/"))


@pytest.fixture
async def server(settings: Settings, aiohttp_server: Any) -> AsyncIterator[TestServer]:
    started: TestServer = await aiohttp_server(create_app(settings))
    yield started
    await started.close()  # before the test's database goes


@pytest.fixture
async def api(aiohttp_client: Any, server: TestServer) -> TestClient:
    """Plain HTTP to the same server, to arrange what a test needs quickly."""
    return await aiohttp_client(server)


@pytest.fixture
async def terminal(server: TestServer, api: TestClient) -> AsyncIterator[Open]:
    """Open shells on the server (or on url=...), with Shell's options; they are closed in
    reverse order.

    Each shell runs inside patch_stdout(), which swaps sys.stdout for the process:
    closing in reverse order is what puts the real one back.
    """
    opened: list[tuple[Terminal, Any]] = []

    async def open_(url: str | None = None, **options: Any) -> Terminal:
        pipe_context = create_pipe_input()
        pipe = pipe_context.__enter__()
        term = Terminal(url or url_of(server), pipe, **options)
        opened.append((term, pipe_context))
        await term.expect(r"/help lists the commands")
        return term

    stdout = sys.stdout
    yield open_
    for term, pipe_context in reversed(opened):
        await term.close()
        pipe_context.__exit__(None, None, None)
    assert sys.stdout is stdout


async def send(api: TestClient, token: str, chat_id: int, body: str) -> dict[str, Any]:
    resp = await api.post(
        f"/v1/chats/{chat_id}/messages",
        json={"body": body},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 201, await resp.text()
    message: dict[str, Any] = await resp.json()
    return message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# The core flow


async def test_register_log_out_and_log_in(terminal: Open, api: TestClient) -> None:
    alice = await terminal()
    assert alice.shell.where == "chaat"
    await alice.register("alice")
    assert alice.shell.client.token
    assert alice.shell.where == "alice"
    await alice.run("/logout", "Logged out.")
    assert alice.shell.client.token is None
    await alice.run("/friends", r"error: You are not logged in: /login USERNAME")
    await alice.login("alice")
    await alice.run("/friends", "No friends yet: /add USERNAME sends a friend request.")
    await alice.run("/users", r"alice  \[you\]")
    # A failed login keeps the session; a new one replaces it and revokes its token.
    first = alice.shell.client.token
    alice.type("/login alice", "not the password")
    await alice.expect("error: Wrong username or password.")
    assert (alice.shell.client.token, alice.shell.where) == (first, "alice")
    await alice.login("alice")
    assert alice.shell.client.token not in (None, first)
    resp = await api.get("/v1/users/me", headers={"Authorization": f"Bearer {first}"})
    assert resp.status == 401


async def test_passwords_stay_out_of_history_and_are_checked_twice(terminal: Open) -> None:
    alice = await terminal()
    alice.type("/register alice", "first password", "second password")
    await alice.expect("error: The passwords do not match.")
    await alice.register("alice", "a secret password")
    await alice.run("/logout", "Logged out.")
    await alice.login("alice", "a secret password")
    history = list(alice.shell.session.history.get_strings())
    assert history == ["/register alice", "/logout", "/login alice"]  # repeats are kept once
    assert not any("password" in line for line in history)
    assert list(alice.shell.password_session.history.get_strings()) == []


async def test_friends_are_made_through_the_shell(terminal: Open) -> None:
    alice, bob = await terminal(), await terminal()
    await alice.register("alice")
    await bob.register("bob")
    await alice.run("/add bob", "Friend request sent to bob.")
    out = await bob.run("/requests", r"\(/accept alice or /reject alice\)")
    assert re.search(r"#\d+  from alice  pending", out)
    await bob.run("/accept alice", "You and alice are now friends: /dm alice to talk.")
    await bob.run("/requests", "No pending friend requests.")
    await alice.run("/friends", r"bob  \(friends since")
    await bob.run("/requests all", r"#\d+  from alice  accepted")
    await alice.run("/unfriend bob", "You and bob are no longer friends.")
    await alice.run("/unfriend bob", "error: bob is not one of your friends.")
    # Asking someone who asked you first makes you friends at once.
    await bob.run("/add alice", "Friend request sent to alice.")
    await alice.run("/add bob", "bob had asked you already: you are now friends.")
    # Rejecting by request id.
    carol = await terminal()
    await carol.register("carol")
    await carol.run("/add alice", "Friend request sent to alice.")
    out = await alice.run("/requests", r"from carol  pending")
    request_id = re.search(r"#(\d+)  from carol", out)
    assert request_id
    await alice.run(f"/reject {request_id[1]}", "Rejected the friend request from carol.")


async def test_direct_chat_between_two_friends(
    terminal: Open, api: TestClient, server: TestServer
) -> None:
    alice, bob = await terminal(), await terminal()
    await alice.register("alice")
    await bob.register("bob")
    await alice.run("/add bob", "Friend request sent to bob.")
    await bob.run("/accept alice", "now friends")

    out = await alice.run("/dm bob hello bob", r"alice: hello bob\n")
    chat_id = int(re.search(r"--- @bob \(chat (\d+)\) ---", out)[1])  # type: ignore[index]
    assert alice.shell.where == "alice @bob"
    await alice.run("how are you?", r"\d\d:\d\d alice: how are you\?\n")

    out = await bob.run("/chats", rf"{chat_id}  @alice  2 unread")
    assert "alice: how are you?" in bob.text
    out = await bob.run("/open alice", r"alice: how are you\?\n")
    assert "alice: hello bob" in out
    assert bob.shell.where == "bob @alice"
    await bob.run("fine, thanks", "bob: fine, thanks\n")
    await bob.run("/chats", rf"{chat_id}  @alice  {' ' * 9}  bob: fine, thanks")
    # alice sees bob's answer live, or on opening the chat again without live events
    await alice.run(f"/open {chat_id}", "bob: fine, thanks\n")
    # /dm again opens the same chat; a line starting with // is text
    await alice.run("/dm bob", rf"--- @bob \(chat {chat_id}\) ---")
    await alice.run("//shrug", "alice: /shrug\n")
    await alice.run("/members", r"alice  \[you\]  \(joined .*\)\nbob  \(joined")
    await alice.run("/leave", "error: Direct chats are fixed: this only works on group chats.")


async def test_group_chat_and_history(terminal: Open, api: TestClient) -> None:
    alice, bob, carol = (
        await sign_up(api, "alice"),
        await sign_up(api, "bob"),
        await sign_up(api, "carol"),
    )
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    await befriend(api, bob, carol)
    term = await terminal()
    await term.login("alice")
    await term.run('/group "#weekend trip" bob', "Created #weekend trip with bob.")
    assert term.shell.where == "alice #weekend trip"
    await term.run("/invite carol", "Added carol to #weekend trip.")
    await term.run("/members", r"alice  \[you\].*\nbob .*\ncarol ")
    chat_id = term.shell.state.open.id  # type: ignore[union-attr]
    for n in range(1, 46):
        await send(api, (bob, carol)[n % 2].token, chat_id, f"message {n}")
    if EVENTS_SERVED:  # they arrive live in the open chat; wait for the last
        await term.expect(r"carol: message 45\n")

    out = await term.run('/open "weekend trip"', r"carol: message 45\n")
    assert "(/history shows earlier messages)" in out
    shown = re.findall(r"message (\d+)", out)
    assert shown == [str(n) for n in range(26, 46)]
    out = await term.run("/history", r"carol: message 25\n")
    assert re.findall(r"message (\d+)", out) == [str(n) for n in range(6, 26)]
    assert "beginning" not in out
    out = await term.run("/history", r"\(this is the beginning of the chat\)")
    assert re.findall(r"message (\d+)", out) == [str(n) for n in range(1, 6)]
    await term.run("/history", r"\(this is the beginning of the chat\)")

    await term.run("back to the present", "alice: back to the present\n")
    await term.run("/leave", "You left #weekend trip.")
    assert term.shell.where == "alice"
    await term.run("hello?", "error: No chat is open: /open CHAT or /dm USERNAME first.")
    await term.run(
        '/open "weekend trip"', "error: No chat called weekend trip: /chats lists yours."
    )
    await term.run(f"/open {chat_id}", f"error: No chat {chat_id}: /chats lists yours.")


# Completion


async def test_completion_of_commands_friends_and_chats(terminal: Open, api: TestClient) -> None:
    alice, bob, carol = (
        await sign_up(api, "alice"),
        await sign_up(api, "bob"),
        await sign_up(api, "carol"),
    )
    await sign_up(api, "dave")
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    term = await terminal()
    await term.login("alice")
    out = await term.run("/dm bob hi", "alice: hi\n")
    direct = int(re.search(r"\(chat (\d+)\)", out)[1])  # type: ignore[index]
    await term.run("/group #weekend bob carol", "Created #weekend with bob, carol.")
    group = term.shell.state.open.id  # type: ignore[union-attr]

    # Commands, with their usage and help, and the space before an argument
    found = completions(term, "/dm")
    assert [c.text for c in found] == ["/dm "]
    assert found[0].display_text == "/dm USERNAME [TEXT]"
    assert "direct chat" in found[0].display_meta_text
    assert [c.text for c in completions(term, "/acc")] == ["/accept "]
    assert [c.text for c in completions(term, "/qu")] == ["/quit"]  # it takes no argument
    assert {c.text for c in completions(term, "/")} >= {"/open ", "/group ", "/quit", "/help "}
    assert [c.text for c in completions(term, "/help hi")] == ["history"]
    # Friends where a friend is expected, leaving out those already named
    assert [c.text for c in completions(term, "/dm ")] == ["bob", "carol"]
    assert [c.text for c in completions(term, "/dm C")] == ["carol"]
    assert completions(term, "/dm C")[0].start_position == -1
    assert [c.text for c in completions(term, "/group x bob ")] == ["carol"]
    assert [c.text for c in completions(term, "/invite b")] == ["bob"]
    assert completions(term, "/dm bob some text") == []
    # Chats come as ids, shown with what they are, most recent first
    found = completions(term, "/open ")
    assert [c.text for c in found] == [str(group), str(direct)]
    assert found[0].display_text == f"{group} #weekend"
    assert found[0].display_meta_text == "group, 3 members"
    assert found[1].display_text == f"{direct} @bob"
    assert found[1].display_meta_text == "direct chat with bob"
    # ... and typing a name finds the id
    assert [c.text for c in completions(term, "/open we")] == [str(group)]
    assert [c.text for c in completions(term, "/open @b")] == [str(direct)]
    assert [c.text for c in completions(term, "/open " + str(direct))] == [str(direct)]
    # Other users for /add (dave is seen through /users), statuses for /requests
    await term.run("/users", "dave")
    assert [c.text for c in completions(term, "/add ")] == ["dave"]
    assert [c.text for c in completions(term, "/requests a")] == ["accepted", "all"]

    # The cache follows the commands that change it
    await term.run("/unfriend carol", "no longer friends")
    await term.settle()
    assert [c.text for c in completions(term, "/dm ")] == ["bob"]

    # Tab in the real prompt: "/inv" + Tab completes to "/invite ", and the friend
    # typed next is its argument (not "/invited")
    buffer = term.shell.session.default_buffer
    term.pipe.send_text("/inv")
    await until(lambda: buffer.complete_state is not None)  # completing while typing
    term.pipe.send_text("\t")
    await until(lambda: buffer.text == "/invite ")
    term.pipe.send_text("dave")
    await until(lambda: buffer.text == "/invite dave")
    term.type("")
    await term.expect(r"error: .*\n")


# Errors: one line each, and the shell goes on


async def test_server_errors_are_one_clear_line(terminal: Open, api: TestClient) -> None:
    await sign_up(api, "carol")
    term = await terminal()
    out = await term.run("/frobnicate", r"error: .*\n")
    assert out == "error: Unknown command /frobnicate; /help lists them.\n"
    # A username that cannot be is refused before any password is asked for
    out = await term.run("/register x1", r"error: .*\n")
    assert out == (
        "error: A username is 3 to 32 characters of A-Z a-z 0-9 _ . - and starts with a "
        "letter (x1 is not).\n"
    )
    term.type("/login alice", "wrong password")
    assert await term.expect(r"error: .*\n") == "error: Wrong username or password.\n"
    await term.register("alice")
    out = await term.run("/add nobody", r"error: .*\n")
    assert out == "error: No such user.\n"
    out = await term.run("/add alice", r"error: .*\n")
    assert out == "error: You cannot send a friend request to yourself.\n"
    out = await term.run("/dm carol hi", r"error: .*\n")
    assert out in (
        "error: Not your friend: carol.\n",  # the server names them
        "error: You can only do this with your friends. (carol)\n",  # or its details do
    )
    out = await term.run("/accept 999", r"error: .*\n")
    assert out.startswith("error: No such")
    out = await term.run("/requests sideways", r"error: .*\n")
    assert out == "error: STATUS is one of pending, accepted, rejected, all.\n"
    await term.settle()
    assert "Traceback" not in term.text
    assert not term.task.done()


async def test_a_revoked_session_says_so_and_logs_out(terminal: Open, api: TestClient) -> None:
    term = await terminal()
    await term.register("alice")
    token = term.shell.client.token
    resp = await api.delete("/v1/tokens", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 204
    await term.run("/friends", r"error: Your session has ended \(logged out or expired\)")
    assert term.shell.client.token is None
    assert term.shell.where == "chaat"
    await term.login("alice")


async def test_an_unreachable_server_is_one_line_and_the_shell_goes_on(terminal: Open) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    term = await terminal(url)
    term.type("/login alice", PASSWORD)
    out = await term.expect(r"error: .*\n")
    assert out == f"error: Cannot reach the server at {url} (connection refused).\n"
    await term.run("/help dm", r"/dm USERNAME \[TEXT\]")
    term.pipe.send_text("half a line\x03")  # Ctrl-C drops the line and goes on
    await term.run("/help quit", "leave the shell")
    assert "Traceback" not in term.text
    term.type("/quit")
    async with asyncio.timeout(5):
        assert await term.task == 0


async def test_ctrl_c_interrupts_a_command_that_hangs(terminal: Open) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.setblocking(False)
        term = await terminal(f"http://127.0.0.1:{silent.getsockname()[1]}")
        term.type("/login alice", PASSWORD)
        await until(lambda: shell_owns_sigint(term))
        async with asyncio.timeout(WAIT):  # the request is on its way
            connection, _ = await asyncio.get_running_loop().sock_accept(silent)
        with connection:
            os.kill(os.getpid(), signal.SIGINT)
            await term.expect(r"Interrupted\.\n")
            await term.run("/help quit", "leave the shell")


def shell_owns_sigint(term: Terminal) -> bool:
    """Whether SIGINT now cancels the shell's running line.

    A prompt takes SIGINT while it reads keys (Ctrl-C is then a key); between
    prompts the shell does. Checked through asyncio's internals, because a SIGINT
    sent when nobody catches it would interrupt pytest itself.
    """
    handle = asyncio.get_running_loop()._signal_handlers.get(signal.SIGINT)  # type: ignore[attr-defined]
    running = term.shell._running
    return handle is not None and running is not None and handle._callback == running.cancel


async def test_the_server_going_away_and_coming_back(
    terminal: Open, api: TestClient, settings: Settings
) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice, bob)
    port = api.server.port
    term = await terminal()
    await term.login("alice")
    out = await term.run("/dm bob before", "alice: before\n")
    chat_id = int(re.search(r"\(chat (\d+)\)", out)[1])  # type: ignore[index]
    if EVENTS_SERVED:
        await live(term)

    await api.server.close()
    url = term.shell.client.base_url
    out = await term.run("/chats", r"error: .*\n")
    assert out.endswith(f"error: Cannot reach the server at {url} (connection refused).\n")
    # What is typed for the chat is kept, in order, and the prompt counts it
    term.type("are you there?")
    assert await term.expect(r"Not sent yet: .*\n") == (
        "Not sent yet: the server cannot be reached (connection refused). It will be sent "
        "when the server is back (the prompt counts what waits).\n"
    )
    term.type("still there?")
    await until(lambda: prompt_of(term) == "alice @bob (2 unsent)> ")
    await term.settle()
    assert not term.task.done()
    if EVENTS_SERVED:
        await until(lambda: "(Live updates lost; reconnecting...)" in term.text)

    again = TestServer(create_app(settings), port=port)
    await again.start_server()
    try:
        if EVENTS_SERVED:
            await until(lambda: "Live updates are back." in term.text)
            assert term.text.count("(Live updates lost; reconnecting...)") == 1
        await until(lambda: prompt_of(term) == "alice @bob> ")
        assert re.search(r"alice: are you there\?\n(.*\n)*.*alice: still there\?\n", term.text)
        await term.run("back again", "alice: back again\n")
        bodies = [m["body"] for m in await history(url, alice, chat_id)]
    finally:
        await term.close()
        await again.close()
    assert bodies == ["before", "are you there?", "still there?", "back again"]
    assert term.text.count("alice: are you there?") == 1
    assert "Traceback" not in term.text


async def history(url: str, who: User, chat_id: int) -> list[dict[str, Any]]:
    """The chat's latest messages, asked of the server at url."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/v1/chats/{chat_id}/messages", headers=who.headers) as resp,
    ):
        assert resp.status == 200, await resp.text()
        items: list[dict[str, Any]] = (await resp.json())["items"]
        return items


def prompt_of(term: Terminal) -> str:
    """The prompt the shell shows now, as plain text."""
    return fragment_list_to_text(term.shell.prompt())


# Live events


def without_events(app: web.Application) -> web.Application:
    """app, answering 404 on /v1/events as a server without live events does."""

    @web.middleware
    async def no_events(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/v1/events":
            raise web.HTTPNotFound()
        return await handler(request)

    app.middlewares.append(no_events)
    return app


async def test_without_live_events_the_shell_says_so_once(
    settings: Settings, terminal: Open
) -> None:
    server = TestServer(without_events(create_app(settings)))
    await server.start_server()
    try:
        await check_no_events(await terminal(url_of(server)))
    finally:
        await server.close()


async def check_no_events(term: Terminal) -> None:
    await term.register("alice")
    await term.run("/logout", "Logged out.")
    await term.login("alice")
    await term.settle()
    notice = "(This server has no live updates: new messages show when you /open a chat"
    assert term.text.count(notice) == 1
    assert "Traceback" not in term.text
    assert not term.task.done()


@needs_events
async def test_messages_arrive_live(terminal: Open, api: TestClient) -> None:
    users = [await sign_up(api, name) for name in ("alice", "bob", "carol")]
    await befriend(api, users[0], users[1])
    await befriend(api, users[0], users[2])
    alice, bob = await terminal(), await terminal()
    await alice.login("alice")
    await bob.login("bob")
    await live(alice, bob)
    out = await alice.run("/dm bob hi bob", "alice: hi bob\n")
    chat_id = int(re.search(r"\(chat (\d+)\)", out)[1])  # type: ignore[index]
    # bob has no chat open: a one-line notice
    await bob.expect(rf"» @alice alice: hi bob  \(/open {chat_id}\)\n")
    await bob.run(f"/open {chat_id}", "alice: hi bob\n")
    await bob.run("hello alice", "bob: hello alice\n")
    # alice has the chat open: the message itself, printed above her prompt
    await alice.expect(r"\d\d:\d\d bob: hello alice\n")
    # a message in another chat is a notice; the open chat stays open
    carol = users[2]
    resp = await api.post(
        "/v1/chats", json={"participants": ["alice"], "message": "psst"}, headers=carol.headers
    )
    assert resp.status == 201, await resp.text()
    other = int((await alice.expect(r"» @carol carol: psst  \(/open (\d+)\)"))[-2])
    assert alice.shell.where == "alice @bob"
    assert [c.display_text for c in completions(alice, "/open @c")] == [f"{other} @carol"]


@needs_events
async def test_friend_requests_arrive_live(terminal: Open, api: TestClient) -> None:
    await sign_up(api, "alice")
    await sign_up(api, "bob")
    alice, bob = await terminal(), await terminal()
    await alice.login("alice")
    await bob.login("bob")
    await live(alice, bob)
    await alice.run("/add bob", "Friend request sent to bob.")
    await bob.expect(r"» alice sent you a friend request: /accept alice or /reject alice")
    assert [c.text for c in completions(bob, "/accept ")] == ["alice"]
    await bob.run("/accept alice", "now friends")
    await alice.expect(r"» bob accepted your friend request\.")
    await alice.settle()
    assert [c.text for c in completions(alice, "/dm ")] == ["bob"]
    # a new chat shows up in the other side's completions without a command
    await alice.run("/group #weekend bob", "Created #weekend with bob.")
    await bob.expect(r"» alice added you to #weekend")
    assert [c.display_text.split()[1] for c in completions(bob, "/open we")] == ["#weekend"]


@needs_events
async def test_missed_messages_are_caught_up_after_a_reconnect(
    terminal: Open, api: TestClient
) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice, bob)
    term = await terminal()
    await term.login("alice")
    out = await term.run("/dm bob one", "alice: one\n")
    chat_id = int(re.search(r"\(chat (\d+)\)", out)[1])  # type: ignore[index]
    await live(term)
    await send(api, bob.token, chat_id, "two")
    await term.expect("bob: two\n")
    await until(lambda: term.shell.state.last_event_id is not None)

    # Drop the event stream, as a broken network would, and send while it is down:
    # only resuming with ?since= can bring "three" (no later message reveals a gap).
    socket_ = term.shell.client._events_socket
    assert socket_ is not None
    since = term.shell.state.last_event_id
    assert since is not None
    await socket_.close()
    await send(api, bob.token, chat_id, "three")
    await term.expect("bob: three\n")
    await until(lambda: (term.shell.state.last_event_id or 0) > since)
    await send(api, bob.token, chat_id, "four")
    await term.expect("bob: four\n")
    await term.settle()
    assert term.text.count("bob: three\n") == 1
    assert term.text.count("bob: four\n") == 1
    assert "Live updates lost" not in term.text  # a blip mended at once is not news


def test_api_errors_describe_themselves_in_one_line() -> None:
    assert ApiError(404, "user_not_found", "No such user.").describe() == "No such user."
    error = ApiError(
        403,
        "not_friends",
        "You can only do this with your friends.",
        [{"field": "participants", "problem": "not a friend", "value": "carol"}],
    )
    assert error.describe() == "You can only do this with your friends. (carol)"
    error = ApiError(
        422, "validation_error", "Invalid.", [{"field": "body", "problem": "is not text"}]
    )
    assert error.describe() == "Invalid. (body: is not text)"  # wording it does not know
    error = ApiError(422, "self_request", "Not you.", [{"field": "to", "problem": "is you"}])
    assert error.describe() == "Not you."
    assert ApiError(500, "error", "two\nlines").describe() == "two lines"


async def test_quit_and_ctrl_d_end_the_shell_and_its_session(
    terminal: Open, api: TestClient
) -> None:
    # patch_stdout() is process-wide: shells must end in the reverse order they began.
    by_ctrl_d, by_quit = await terminal(), await terminal()
    await by_quit.register("alice")
    token = by_quit.shell.client.token
    by_quit.type("/quit")
    async with asyncio.timeout(WAIT):
        assert await by_quit.task == 0
    assert by_quit.shell.client._session is None
    # the token is revoked on the way out, not left valid somewhere
    resp = await api.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    by_ctrl_d.pipe.send_text("\x04")
    async with asyncio.timeout(WAIT):
        assert await by_ctrl_d.task == 0


# Groups without a name (contract 1.1): shown by their members


@needs_events
async def test_a_group_without_a_name_is_shown_by_its_members(
    terminal: Open, api: TestClient
) -> None:
    alice, bob, carol = [await sign_up(api, name) for name in ("alice", "bob", "carol")]
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    await befriend(api, bob, carol)
    term_a, term_b = await terminal(), await terminal()
    await term_a.login("alice")
    await term_b.login("bob")
    await live(term_a, term_b)

    out = await term_a.run("/group bob carol", r"No messages yet")
    assert "Created a group with bob, carol.\n" in out
    chat_id = int(re.search(r"--- bob, carol \(chat (\d+)\) ---", out)[1])  # type: ignore[index]
    assert term_a.shell.where == "alice bob, carol"
    # bob is told, and sees the group by its other members
    await term_b.expect(rf"» alice added you to the group with alice, carol  \(/open {chat_id}\)")
    await until(lambda: any(c.text == str(chat_id) for c in completions(term_b, "/open ")))
    found = [c for c in completions(term_b, "/open ") if c.text == str(chat_id)]
    assert found[0].display_text == f"{chat_id} alice, carol"
    assert found[0].display_meta_text == "group, 3 members"
    assert [c.text for c in completions(term_b, "/open car")] == [str(chat_id)]

    # a message there, while bob has no chat open, is a notice naming the members
    await send(api, carol.token, chat_id, "hi all")
    await term_b.expect(rf"» \(alice, carol\) carol: hi all  \(/open {chat_id}\)\n")
    await term_b.run("/chats", rf"{chat_id}  alice, carol  1 unread   carol: hi all")
    out = await term_b.run('/open "alice, carol"', r"carol: hi all\n")
    assert f"--- alice, carol (chat {chat_id}) ---" in out
    await term_a.expect(r"carol: hi all\n")  # alice has it open

    # a name given later replaces the members everywhere
    resp = await api.patch(
        f"/v1/chats/{chat_id}", json={"name": "book club"}, headers=carol.headers
    )
    assert resp.status == 200, await resp.text()
    await until(lambda: term_a.shell.where == "alice #book club")
    await until(lambda: term_b.shell.where == "bob #book club")
    # ... and taking it away brings them back
    resp = await api.patch(f"/v1/chats/{chat_id}", json={"name": None}, headers=carol.headers)
    assert resp.status == 200, await resp.text()
    await until(lambda: term_b.shell.where == "bob alice, carol")

    # a named group is made with #NAME; the old way (a name first, no #) gets a hint
    await term_a.run('/group "#book club" bob', "Created #book club with bob.")
    await term_b.expect(r"» alice added you to #book club  \(/open \d+\)")
    out = await term_a.run("/group weekend bob", r"error: .*\n")
    assert out.endswith("""(a group's name starts with #: /group "#weekend" bob)\n"""), out
    await term_a.run("/leave", "You left #book club.")
    await term_a.run(f"/open {chat_id}", "hi all")
    await term_a.run("/leave", "You left the group with bob, carol.")
    assert "Traceback" not in term_a.text + term_b.text


async def test_a_member_removed_from_a_nameless_group_is_told_by_its_members(
    terminal: Open, api: TestClient
) -> None:
    alice, bob, carol = [await sign_up(api, name) for name in ("alice", "bob", "carol")]
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    term = await terminal()
    await term.login("bob")
    if EVENTS_SERVED:
        await live(term)
    group = await new_chat(api, alice, ["bob", "carol"], kind="group")
    assert group["name"] is None
    await term.run(f"/open {group['id']}", rf"--- alice, carol \(chat {group['id']}\) ---")
    resp = await api.delete(f"/v1/chats/{group['id']}/participants/{bob.id}", headers=alice.headers)
    assert resp.status == 204, await resp.text()
    if EVENTS_SERVED:
        await term.expect(r"» You are no longer in the group with alice, carol\.")
        assert term.shell.where == "bob"


# The server URL is checked before the shell starts


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        (
            "http://127.0.0.1:8080/v1",
            "--server http://127.0.0.1:8080 (not http://127.0.0.1:8080/v1;",
        ),
        ("https://chat.example/v1/", "--server https://chat.example (not"),
        ("http://h:1/x?y=1", "--server http://h:1 (not"),
        ("127.0.0.1:8080", "give http://127.0.0.1:8080 instead"),
        ("ftp://chat.example", "give one like http://127.0.0.1:8080"),
        ("http://", "give one like http://127.0.0.1:8080"),
        ("http://h:port", "its port must be a number from 1 to 65535"),
        ("http://h:99999", "its port must be a number from 1 to 65535"),
    ],
)
def test_a_server_url_the_shell_cannot_use_is_refused_with_a_hint(
    url: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(url) == 2
    err = capsys.readouterr().err
    assert err.startswith("chaat: "), err
    assert err.count("\n") == 1, err
    assert hint in err


def test_good_server_urls_pass_the_check() -> None:
    for url in ("http://127.0.0.1:8080", "https://chat.example/", "http://[::1]:8080"):
        assert url_problem(url) is None


async def test_no_server_at_the_url_is_one_line_and_a_failure(
    capsys: pytest.CaptureFixture[str], settings: Settings, server: TestServer
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert await asyncio.to_thread(run, url) == 1
    err = capsys.readouterr().err
    assert err == (
        f"chaat: no server answers at {url} (connection refused): is `chaat serve` running there?\n"
    )
    # Something answers, but not as Chaat does
    other = TestServer(web.Application())
    await other.start_server()
    try:
        assert await asyncio.to_thread(run, url_of(other)) == 1
    finally:
        await other.close()
    err = capsys.readouterr().err
    assert err.endswith("answers, but not as a Chaat server (GET /v1/health answered 404).\n")
    assert err.count("\n") == 1
    # A Chaat server passes
    assert await server_problem(url_of(server)) is None
