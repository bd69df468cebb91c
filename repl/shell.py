"""The shell's loop: one PromptSession, reading lines and running them, and the session's life.

The loop runs inside `patch_stdout()`, so whatever the events task prints appears
above the prompt without disturbing what is being typed. Ctrl-C clears the line
(or interrupts a command that hangs), Ctrl-D (or /quit) leaves. Every failure is
one line; the shell keeps running.

Where the rest lives: commands.py reads a line, handlers/ runs each /command,
chat_view.py shows the open chat, live.py follows the event stream, outbox.py keeps
what could not be sent yet, activity.py handles typing notices, state.py caches
what the server said, completer.py completes, render.py formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application import create_app_session
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import DummyHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.patch_stdout import patch_stdout

from . import live, outbox
from .activity import Activity
from .client import ApiError, Client, Message, ServerUnreachable, User
from .commands import Invocation, ParseError, Say, ShellError, parse
from .completer import ChatCompleter
from .handlers.chats import say
from .render import STYLE, message_parts, plural
from .state import State, refresh

T = TypeVar("T")


def run(server_url: str) -> int:
    """Run the shell against server_url until /quit or Ctrl-D; the exit code.

    A URL the shell cannot use (2) or no Chaat server answering there (1) stops it
    at once with one line on stderr.
    """
    problem = url_problem(server_url)
    if problem is not None:
        print(f"chaat: {problem}", file=sys.stderr)
        return 2

    async def main() -> int:
        problem = await server_problem(server_url)
        if problem is not None:
            print(f"chaat: {problem}", file=sys.stderr)
            return 1
        shell = Shell(server_url)

        def on_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            # One line instead of prompt-toolkit's traceback and "Press ENTER to continue".
            exc = context.get("exception")
            shell.error(f"Something went wrong in the shell: {exc or context.get('message')!r}")

        asyncio.get_running_loop().set_exception_handler(on_loop_error)
        return await shell.run()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


def url_problem(url: str) -> str | None:
    """Why url cannot be a server address for the shell, with the URL to use; None if it can."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        if "://" not in url and url.strip():  # host:port, say
            return f"{url} is not a server URL: give http://{url.strip().rstrip('/')} instead."
        return f"{url} is not a server URL: give one like http://127.0.0.1:8080."
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number from 0 to 65535)
    except ValueError:
        return f"{url} is not a server URL: its port must be a number from 1 to 65535."
    if not parts.hostname:
        return f"{url} is not a server URL: it names no host."
    if parts.path.strip("/") or parts.query or parts.fragment:
        root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        return (
            f"give the server's address without a path: --server {root} "
            f"(not {url}; the shell adds /v1 itself)."
        )
    return None


async def server_problem(url: str) -> str | None:
    """Why no Chaat server answers at url (GET /v1/health), in one line; None when one does."""
    async with Client(url, timeout=5.0) as client:
        try:
            status = await client.health()
        except ServerUnreachable as exc:
            return f"no server answers at {url} ({exc.reason}): is `chaat serve` running there?"
    if status == 503:
        return f"the server at {url} answers, but its database is unavailable: try again soon."
    if status != 200:
        return f"{url} answers, but not as a Chaat server (GET /v1/health answered {status})."
    return None


class Shell:
    """The chat shell for one server. Give it input and output to drive it from tests."""

    def __init__(
        self,
        server_url: str,
        *,
        input: Input | None = None,
        output: Output | None = None,
        history: History | None = None,
        retry_delays: tuple[float, ...] = (0.5, 1.0),
        reconnect_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0),
        typing_shown: float = 5.0,
        typing_every: float = 2.0,
        digest_quiet: float = 0.5,
        digest_longest: float = 5.0,
    ) -> None:
        self.client = Client(server_url)
        self.state = State()
        self.completer = ChatCompleter(self.state)
        self.retry_delays = retry_delays
        self.reconnect_delays = reconnect_delays
        """Pauses between attempts while the server is away: events and unsent lines."""
        self._input = input
        self._output = output
        # Built once; the history is in memory unless the caller gives one.
        self.session: PromptSession[str] = PromptSession(
            input=input,
            output=output,
            history=history if history is not None else InMemoryHistory(),
            completer=self.completer,
            style=STYLE,
        )
        self.activity = Activity(self, shown=typing_shown, send_every=typing_every)
        self.session.default_buffer.on_text_changed += lambda buffer: self.activity.typed(
            buffer.text
        )
        self.digest = live.Digest(self, quiet=digest_quiet, longest=digest_longest)
        # A password is typed into its own prompt, which remembers nothing.
        self.password_session: PromptSession[str] = PromptSession(
            input=input, output=output, history=DummyHistory(), is_password=True
        )
        self.show_lock = asyncio.Lock()
        """Held while messages of the open chat are printed: see chat_view."""
        self.told_no_events = False
        self.following = False
        """Whether the event stream is up: from its `ready` on, every event reaches us."""
        self.leaving: set[int] = set()  # chats we asked to leave
        # Chats we were told we joined: a removal that follows at once must be told too,
        # though the chat list reloaded meanwhile may already be without them.
        self.joined: set[int] = set()
        self.server_back = asyncio.Event()
        """Set when the event stream (re)connects: unsent lines need not wait longer."""
        self._events: asyncio.Task[None] | None = None
        self._outbox: asyncio.Task[None] | None = None
        self._running: asyncio.Future[bool] | None = None  # the line being run

    # The loop

    async def run(self) -> int:
        """Read and run lines until /quit or Ctrl-D; the exit code."""
        with create_app_session(input=self._input, output=self._output):
            async with self.client:
                with patch_stdout():
                    self.notice(
                        f"Chaat shell for {self.client.base_url}. "
                        "/help lists the commands; /register or /login to begin."
                    )
                    try:
                        await self._loop()
                    finally:
                        await self.end_session(revoke=True)
        return 0

    async def _loop(self) -> None:
        while True:
            try:
                # The loop's exception handler is run()'s, not prompt-toolkit's
                # traceback with "Press ENTER to continue".
                line = await self.session.prompt_async(self.prompt, set_exception_handler=False)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if not await self._interruptible(self.execute(line)):
                return

    async def _interruptible(self, work: Awaitable[bool]) -> bool:
        """Await work; Ctrl-C (SIGINT while no prompt is reading keys) cancels just that."""
        task = self._running = asyncio.ensure_future(work)
        previous = signal.getsignal(signal.SIGINT)
        self._arm_interrupt()
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # the shell itself is being cancelled, not just this line
            self.notice("Interrupted.")
            return True
        finally:
            self._running = None
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)  # asyncio.run's own, say

    def _arm_interrupt(self) -> None:
        """Make SIGINT cancel the running line; a prompt removes this when it ends."""
        if self._running is not None:
            # Not on Windows, nor outside the main thread: there Ctrl-C stays as it was.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGINT, self._running.cancel)

    async def execute(self, line: str) -> bool:
        """Run one line; False when the shell should end. Never raises for a failed command."""
        try:
            parsed = parse(line)
            if parsed is None:
                return True
            if isinstance(parsed, Say):
                await say(self, parsed.text)
                return True
            return await self.dispatch(parsed)
        except (ParseError, ShellError) as exc:
            self.error(str(exc))
        except ApiError as exc:
            self.api_error(exc)
        except ServerUnreachable as exc:
            self.error(str(exc))
        except Exception as exc:  # a bug here must not end the session
            self.error(f"Something went wrong in the shell: {exc!r}")
        return True

    async def dispatch(self, invocation: Invocation) -> bool:
        """Run a command's handler; False when it ends the shell."""
        command = invocation.command
        if command.needs_login and self.state.me is None:
            raise ShellError("You are not logged in: /login USERNAME or /register USERNAME.")
        return await command.handler(self, *invocation.args) is not False

    @property
    def where(self) -> str:
        """Who is logged in and which chat is open, as the prompt shows it."""
        me, chat = self.state.me, self.state.open
        if me is None:
            return "chaat"
        if chat is None:
            return me["username"]
        return f"{me['username']} {chat.label}"

    def prompt(self) -> FormattedText:
        """The prompt: where, and how many typed lines wait for the server (`(2 unsent)`)."""
        parts = [("class:prompt", self.where)]
        if self.state.outbox:
            parts.append(("class:pending", f" ({len(self.state.outbox)} unsent)"))
        return FormattedText([*parts, ("", "> ")])

    def redraw(self) -> None:
        """Draw the prompt again (its count of unsent lines changed)."""
        self.session.app.invalidate()

    # Output: every line goes through here, above the prompt when one is showing.

    def say(self, text: str, style: str = "") -> None:
        print_formatted_text(FormattedText([(style, text)]), style=STYLE)

    def notice(self, text: str) -> None:
        self.say(text, "class:notice")

    def error(self, text: str) -> None:
        self.say(f"error: {text}", "class:error")

    def api_error(self, exc: ApiError) -> None:
        if exc.status == 401 and exc.code == "unauthorized" and self.state.me is not None:
            self._drop_session()
            self.error("Your session has ended (logged out or expired): /login again.")
        else:
            self.error(exc.describe())

    def show_message(
        self, message: Message, *, replied: Message | None = None, hidden: bool = False
    ) -> None:
        parts = message_parts(message, replied=replied, hidden=hidden)
        print_formatted_text(FormattedText(parts), style=STYLE)

    async def ask_password(self, prompt: str = "Password: ") -> str | None:
        """A password typed without echo and kept out of the history; None if cancelled."""
        try:
            return await self.password_session.prompt_async(prompt, set_exception_handler=False)
        except (KeyboardInterrupt, EOFError):
            return None
        finally:
            self._arm_interrupt()  # the prompt took SIGINT for itself while it read

    # The logged-in session: its caches and its live events

    async def begin_session(self, user: User, *, replacing: str | None) -> None:
        """Start showing user's world; revoke the token of the session this replaces."""
        await self._stop_events()
        if replacing is not None:
            await self._revoke(replacing)
        self._forget()
        self.state.me = user
        await refresh(self.client, self.state, "friends", "chats", "requests", "blocks")
        self.say(f"Logged in as {user['username']}.")
        unread = [c for c in self.state.chats if c.get("unread_count")]
        if unread:
            total = sum(c["unread_count"] for c in unread)
            self.say(
                f"{plural(total, 'unread message')} in {plural(len(unread), 'chat')}: "
                "/chats lists them."
            )
        if self.state.incoming:
            self.say(
                f"{plural(len(self.state.incoming), 'friend request')} waiting: "
                "/requests lists them."
            )
        self._events = asyncio.create_task(live.follow(self))

    async def end_session(self, *, revoke: bool) -> None:
        """Stop the events, revoke the token (best effort), forget the user."""
        await self._stop_events()
        if revoke and self.client.token is not None:
            await self._revoke(self.client.token)
        self._drop_session()

    async def _revoke(self, token: str) -> None:
        """Revoke token on the server if it answers soon; it is forgotten here anyway."""
        with contextlib.suppress(ApiError, ServerUnreachable, TimeoutError):
            async with asyncio.timeout(3.0):
                await self.client.revoke(token)

    def _drop_session(self) -> None:
        if self._events is not None:
            self._events.cancel()
            self._events = None
        self.client.token = None
        self._forget()

    def _forget(self) -> None:
        """Forget the user's world: caches, unsent lines (saying so), pending notices."""
        if self._outbox is not None:
            self._outbox.cancel()
            self._outbox = None
        outbox.dropped(self)
        self.digest.clear()
        self.state.reset()
        self.activity.clear()
        self.redraw()

    def flush_outbox(self) -> None:
        """Start sending the lines that wait, unless that is under way."""
        if self._outbox is None or self._outbox.done():
            self._outbox = asyncio.create_task(outbox.flush(self))

    async def _stop_events(self) -> None:
        task, self._events = self._events, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def with_retry(self, call: Callable[[], Awaitable[T]]) -> T:
        """call, again after a pause when the server is unreachable or unavailable.

        Only for calls that are safe to repeat, such as sends with a client_id.
        """
        for delay in (*self.retry_delays, None):
            try:
                return await call()
            except ServerUnreachable:
                if delay is None:
                    raise
            except ApiError as exc:
                if exc.status != 503 or delay is None:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")
