"""The interactive shell: one PromptSession, the commands, completion and live events.

The loop runs inside `patch_stdout()`, so whatever the events task prints appears
above the prompt without disturbing what is being typed. Ctrl-C clears the line,
Ctrl-D (or /quit) leaves. Every failure is one line; the shell keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import DummyHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style

from .client import (
    ApiError,
    Chat,
    Client,
    Event,
    Friend,
    FriendRequest,
    Message,
    ServerUnreachable,
    User,
)
from .commands import (
    COMMANDS,
    STATUSES,
    Arg,
    Invocation,
    ParseError,
    Say,
    expected_at,
    help_text,
    parse,
)

PAGE = 20
"""Messages shown on /open and per /history."""

STYLE = Style.from_dict(
    {
        "error": "ansired",
        "notice": "ansibrightblack",
        "time": "ansibrightblack",
        "sender": "bold",
        "prompt": "ansicyan",
    }
)

T = TypeVar("T")


class ShellError(Exception):
    """A command cannot go on; the message says why, in one line."""


def run(server_url: str) -> int:
    """Run the shell against server_url until /quit or Ctrl-D; the exit code."""

    async def main() -> int:
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


# What the shell knows, shared with the completer.


@dataclass
class OpenChat:
    """The chat that plain text goes to, and which of its messages are on screen."""

    id: int
    label: str
    shown: set[int] = field(default_factory=set)
    oldest: int | None = None
    newest: int | None = None
    has_earlier: bool = False


@dataclass
class State:
    """The logged-in user and cached server state, for completion and display."""

    me: User | None = None
    friends: list[Friend] = field(default_factory=list)
    chats: list[Chat] = field(default_factory=list)  # most recent activity first
    incoming: list[FriendRequest] = field(default_factory=list)  # pending, to me
    usernames: set[str] = field(default_factory=set)  # everyone seen, for /add
    open: OpenChat | None = None
    last_event_id: int | None = None

    def reset(self) -> None:
        """Forget everything about the user (in place: the completer holds this object)."""
        self.__init__()  # type: ignore[misc]

    @property
    def me_id(self) -> int | None:
        return self.me["id"] if self.me else None

    def chat(self, chat_id: int) -> Chat | None:
        return next((c for c in self.chats if c["id"] == chat_id), None)

    def label(self, chat: Chat) -> str:
        """What a chat is called: #name for a group, @username of the other side if direct."""
        if chat["kind"] == "group":
            return "#" + (chat["name"] or str(chat["id"]))
        others = [p["username"] for p in chat["participants"] if p["id"] != self.me_id]
        return "@" + (others[0] if others else self.me["username"] if self.me else "?")

    def friend(self, username: str) -> User | None:
        wanted = username.casefold()
        return next(
            (f["user"] for f in self.friends if f["user"]["username"].casefold() == wanted),
            None,
        )

    def remember_chat(self, chat: Chat) -> None:
        """Put chat first in the cache, replacing its old copy."""
        self.chats = [chat, *(c for c in self.chats if c["id"] != chat["id"])]
        self.usernames.update(p["username"] for p in chat["participants"])
        if self.open is not None and self.open.id == chat["id"]:
            self.open.label = self.label(chat)


class ChatCompleter(Completer):
    """Tab completion from the cached friends, chats and requests; no I/O."""

    def __init__(self, state: State) -> None:
        self.state = state

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        expected = expected_at(document.text_before_cursor)
        if expected is None:
            return
        word, start = expected.word, -len(expected.word)
        folded = word.casefold()
        if expected.kind is Arg.COMMAND:
            slash = "/" if word.startswith("/") else ""
            for command in COMMANDS.values():
                if (slash + command.name).startswith(folded):
                    yield Completion(
                        slash + command.name, start, display=command.usage,
                        display_meta=command.help,
                    )  # fmt: skip
        elif expected.kind is Arg.FRIEND:
            taken = {w.casefold() for w in expected.before}
            for friend in self.state.friends:
                user = friend["user"]
                name = user["username"]
                if name.casefold().startswith(folded) and name.casefold() not in taken:
                    yield Completion(name, start, display_meta=_user_meta(user, "friend"))
        elif expected.kind is Arg.USER:
            friends = {f["user"]["username"] for f in self.state.friends}
            me = self.state.me["username"] if self.state.me else None
            for name in sorted(self.state.usernames - friends - {me}, key=str.casefold):
                if name.casefold().startswith(folded):
                    yield Completion(name, start, display_meta="user")
        elif expected.kind is Arg.CHAT:
            yield from self._chats(word, start)
        elif expected.kind is Arg.REQUEST:
            for request in self.state.incoming:
                sender = request["from"]["username"]
                if word.isdigit() and str(request["id"]).startswith(word):
                    text = str(request["id"])
                elif sender.casefold().startswith(folded):
                    text = sender
                else:
                    continue
                meta = f"friend request #{request['id']} from {sender}"
                yield Completion(text, start, display=text, display_meta=meta)
        elif expected.kind is Arg.STATUS:
            for status in STATUSES:
                if status.startswith(folded):
                    yield Completion(status, start)

    def _chats(self, word: str, start: int) -> Iterable[Completion]:
        """Chat ids, shown with the group's name or the friend's username."""
        folded = word.casefold().lstrip("#@")
        for chat in self.state.chats:
            label = self.state.label(chat)
            by_id = str(chat["id"]).startswith(word)
            if not by_id and not label[1:].casefold().startswith(folded):
                continue
            if chat["kind"] == "group":
                meta = f"group, {len(chat['participants'])} members"
            else:
                meta = f"direct chat with {label[1:]}"
            if chat.get("unread_count"):
                meta += f", {chat['unread_count']} unread"
            yield Completion(
                str(chat["id"]), start, display=f"{chat['id']} {label}", display_meta=meta
            )


def _user_meta(user: User, what: str) -> str:
    if user.get("display_name") and user["display_name"] != user["username"]:
        return f"{what}: {user['display_name']}"
    return what


def _one_line(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(timestamp: str, *, today: datetime | None = None) -> str:
    """HH:MM in local time, with the date when it is not today."""
    try:
        moment = datetime.fromisoformat(timestamp).astimezone()
    except ValueError:
        return timestamp
    today = today or datetime.now().astimezone()
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
    ) -> None:
        self.client = Client(server_url)
        self.state = State()
        self.completer = ChatCompleter(self.state)
        self.retry_delays = retry_delays
        self.reconnect_delays = reconnect_delays
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
        # A password is typed into its own prompt, which remembers nothing.
        self.password_session: PromptSession[str] = PromptSession(
            input=input, output=output, history=DummyHistory(), is_password=True
        )
        self._events: asyncio.Task[None] | None = None
        self._show_lock = asyncio.Lock()
        self._told_no_events = False
        self._leaving: set[int] = set()  # chats we asked to leave
        self._running: asyncio.Future[bool] | None = None  # the line being run
        self._handlers: dict[str, Callable[..., Awaitable[bool | None]]] = {
            name: getattr(self, f"cmd_{name}") for name in COMMANDS
        }

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
                        await self._end_session(revoke=True)
        return 0

    async def _loop(self) -> None:
        while True:
            try:
                # The loop's exception handler is run()'s, not prompt-toolkit's
                # traceback with "Press ENTER to continue".
                line = await self.session.prompt_async(self._prompt, set_exception_handler=False)
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
                await self.send_text(parsed.text)
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
        name = invocation.command.name
        if name not in ("help", "register", "login", "quit") and self.state.me is None:
            raise ShellError("You are not logged in: /login USERNAME or /register USERNAME.")
        return await self._handlers[name](*invocation.args) is not False

    @property
    def where(self) -> str:
        """Who is logged in and which chat is open, as the prompt shows it."""
        me, chat = self.state.me, self.state.open
        if me is None:
            return "chaat"
        if chat is None:
            return me["username"]
        return f"{me['username']} {chat.label}"

    def _prompt(self) -> FormattedText:
        return FormattedText([("class:prompt", self.where), ("", "> ")])

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

    def show_message(self, message: Message) -> None:
        self.say_parts(
            ("class:time", _when(message["created_at"]) + " "),
            ("class:sender", message["sender"]["username"]),
            ("", ": " + message["body"].replace("\n", "\n    ")),
        )

    def say_parts(self, *parts: tuple[str, str]) -> None:
        print_formatted_text(FormattedText(list(parts)), style=STYLE)

    # Sessions

    async def _ask_password(self, prompt: str = "Password: ") -> str | None:
        try:
            return await self.password_session.prompt_async(prompt, set_exception_handler=False)
        except (KeyboardInterrupt, EOFError):
            return None
        finally:
            self._arm_interrupt()  # the prompt took SIGINT for itself while it read

    async def _begin_session(self, user: User, *, replacing: str | None) -> None:
        """Start showing user's world; revoke the token of the session this replaces."""
        await self._stop_events()
        if replacing is not None:
            await self._revoke(replacing)
        self.state.reset()
        self.state.me = user
        await self._refresh("friends", "chats", "requests")
        self.say(f"Logged in as {user['username']}.")
        unread = [c for c in self.state.chats if c.get("unread_count")]
        if unread:
            total = sum(c["unread_count"] for c in unread)
            self.say(
                f"{_plural(total, 'unread message')} in {_plural(len(unread), 'chat')}: "
                "/chats lists them."
            )
        if self.state.incoming:
            self.say(
                f"{_plural(len(self.state.incoming), 'friend request')} waiting: "
                "/requests lists them."
            )
        self._events = asyncio.create_task(self._follow_events())

    async def _end_session(self, *, revoke: bool) -> None:
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
        self.state.reset()

    async def _stop_events(self) -> None:
        task, self._events = self._events, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh(self, *what: str) -> None:
        """Reload the named caches; failures leave them as they were (the next try will do)."""
        loaders: dict[str, Callable[[], Awaitable[None]]] = {
            "friends": self._load_friends,
            "chats": self._load_chats,
            "requests": self._load_requests,
        }
        for name in what:
            with contextlib.suppress(ApiError, ServerUnreachable):
                await loaders[name]()

    async def _load_friends(self) -> None:
        self.state.friends = await self.client.list_friends()
        self.state.usernames.update(f["user"]["username"] for f in self.state.friends)

    async def _load_chats(self) -> None:
        self.state.chats = await self.client.list_chats()
        for chat in self.state.chats:
            self.state.usernames.update(p["username"] for p in chat["participants"])
        if self.state.open is not None:
            current = self.state.chat(self.state.open.id)
            if current is not None:
                self.state.open.label = self.state.label(current)

    async def _load_requests(self) -> None:
        self.state.incoming = await self.client.list_requests(
            status="pending", direction="incoming"
        )
        self.state.usernames.update(r["from"]["username"] for r in self.state.incoming)

    async def _with_retry(self, call: Callable[[], Awaitable[T]]) -> T:
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

    # Commands: cmd_<name>(*args); a False answer ends the shell.

    async def cmd_help(self, name: str | None = None) -> None:
        self.say(help_text(name))

    async def cmd_quit(self) -> bool:
        return False

    async def cmd_register(self, username: str) -> None:
        password = await self._ask_password("Password: ")
        again = await self._ask_password("Password again: ") if password is not None else None
        if password is None or again is None:
            self.notice("Cancelled.")
            return
        if password != again:
            raise ShellError("The passwords do not match.")
        user = await self.client.register(username, password)
        self.say(f"Registered {user['username']}.")
        previous = self.client.token
        session = await self.client.log_in(username, password)
        await self._begin_session(session["user"], replacing=previous)

    async def cmd_login(self, username: str) -> None:
        password = await self._ask_password()
        if password is None:
            self.notice("Cancelled.")
            return
        previous = self.client.token  # kept if this login fails
        session = await self.client.log_in(username, password)
        await self._begin_session(session["user"], replacing=previous)

    async def cmd_logout(self) -> None:
        await self._end_session(revoke=True)
        self.say("Logged out.")

    async def cmd_users(self, prefix: str = "") -> None:
        users, more = await self.client.list_users(prefix)
        self.state.usernames.update(u["username"] for u in users)
        if not users:
            self.say("No users match." if prefix else "No users yet.")
            return
        friends = {f["user"]["id"] for f in self.state.friends}
        for user in users:
            line = user["username"]
            if user["display_name"] != user["username"]:
                line += f" ({user['display_name']})"
            if user["id"] == self.state.me_id:
                line += "  [you]"
            elif user["id"] in friends:
                line += "  [friend]"
            self.say(line)
        if more:
            self.notice("…and more: /users PREFIX narrows the list.")

    async def cmd_friends(self) -> None:
        await self._load_friends()
        if not self.state.friends:
            self.say("No friends yet: /add USERNAME sends a friend request.")
        for friend in self.state.friends:
            self.say(f"{friend['user']['username']}  (friends since {_when(friend['since'])})")

    async def cmd_requests(self, status: str = "pending") -> None:
        status = status.lower()
        if status not in STATUSES:
            raise ShellError(f"STATUS is one of {', '.join(STATUSES)}.")
        requests = await self.client.list_requests(status=None if status == "all" else status)
        if status == "pending":
            self.state.incoming = [r for r in requests if r["to"]["id"] == self.state.me_id]
        if not requests:
            self.say("No pending friend requests." if status == "pending" else "None.")
        for request in requests:
            self.say(self._describe_request(request))

    def _describe_request(self, request: FriendRequest) -> str:
        incoming = request["to"]["id"] == self.state.me_id
        other = (request["from"] if incoming else request["to"])["username"]
        line = f"#{request['id']}  {'from' if incoming else 'to'} {other}  {request['status']}"
        if incoming and request["status"] == "pending":
            line += f"  (/accept {other} or /reject {other})"
        return line

    async def cmd_add(self, username: str) -> None:
        request = await self.client.send_request(username)
        if request["status"] == "accepted":
            other = request["from"]["username"]
            await self._refresh("friends", "requests")
            self.say(f"{other} had asked you already: you are now friends.")
        else:
            self.say(f"Friend request sent to {request['to']['username']}.")

    async def cmd_accept(self, ref: str) -> None:
        await self._respond(ref, "accepted")

    async def cmd_reject(self, ref: str) -> None:
        await self._respond(ref, "rejected")

    async def _respond(self, ref: str, status: str) -> None:
        if ref.lstrip("#").isdigit():
            request_id = int(ref.lstrip("#"))
        else:
            await self._load_requests()
            wanted = ref.casefold()
            found = [r for r in self.state.incoming if r["from"]["username"].casefold() == wanted]
            if not found:
                raise ShellError(f"No pending friend request from {ref}: /requests lists them.")
            request_id = found[0]["id"]
        request = await self.client.respond(request_id, status)
        await self._refresh("friends", "requests")
        other = request["from"]["username"]
        if status == "accepted":
            self.say(f"You and {other} are now friends: /dm {other} to talk.")
        else:
            self.say(f"Rejected the friend request from {other}.")

    async def cmd_unfriend(self, username: str) -> None:
        friend = self.state.friend(username)
        if friend is None:
            await self._load_friends()
            friend = self.state.friend(username)
        if friend is None:
            raise ShellError(f"{username} is not one of your friends.")
        await self.client.unfriend(friend["id"])
        await self._refresh("friends")
        self.say(f"You and {friend['username']} are no longer friends.")

    async def cmd_chats(self) -> None:
        await self._load_chats()
        if not self.state.chats:
            self.say("No chats yet: /dm USERNAME or /group NAME USERNAME... starts one.")
            return
        width = max(len(self.state.label(c)) for c in self.state.chats)
        for chat in self.state.chats:
            unread = f"{chat['unread_count']} unread" if chat.get("unread_count") else ""
            last = chat.get("last_message")
            text = f"{last['sender']['username']}: {_one_line(last['body'], 50)}" if last else ""
            self.say(f"{chat['id']:>4}  {self.state.label(chat):<{width}}  {unread:<9}  {text}")

    async def cmd_open(self, ref: str) -> None:
        await self._open(await self._find_chat(ref))

    async def _find_chat(self, ref: str) -> Chat:
        """The chat with id ref, or named ref (a group's name, a friend's username)."""
        if ref.isdigit():
            cached = self.state.chat(int(ref))
            if cached is not None:
                return cached
            try:
                return await self.client.get_chat(int(ref))
            except ApiError as exc:
                if exc.status == 404:
                    raise ShellError(f"No chat {ref}: /chats lists yours.") from None
                raise
        for attempt in range(2):
            if attempt:
                await self._load_chats()
            matches = self._chats_named(ref)
            if len(matches) == 1:
                return matches[0]
            if matches:
                ids = ", ".join(str(c["id"]) for c in matches)
                raise ShellError(f"Several chats are called {ref} ({ids}): use the id.")
        raise ShellError(f"No chat called {ref}: /chats lists yours.")

    def _chats_named(self, ref: str) -> list[Chat]:
        labels = [(self.state.label(c), c) for c in self.state.chats]
        if ref[:1] in ("#", "@"):
            exact = [c for label, c in labels if label == ref]
            folded = [c for label, c in labels if label.casefold() == ref.casefold()]
        else:
            exact = [c for label, c in labels if label[1:] == ref]
            folded = [c for label, c in labels if label[1:].casefold() == ref.casefold()]
        return exact or folded

    async def _open(self, chat: Chat) -> None:
        """Make chat the open one and show its latest messages."""
        self.state.remember_chat(chat)
        label = self.state.label(chat)
        # Under the lock, so a live message that arrives meanwhile waits, then is
        # recognised as shown (or as newer, and printed after these).
        async with self._show_lock:
            previous, self.state.open = self.state.open, OpenChat(chat["id"], label)
            try:
                messages, more = await self.client.list_messages(chat["id"], limit=PAGE)
            except BaseException:
                self.state.open = previous
                raise
            self.notice(f"--- {label} (chat {chat['id']}) ---")
            if more:
                self.notice("(/history shows earlier messages)")
            if not messages:
                self.notice("No messages yet: type to send one.")
            for message in messages:
                self._show_in_open(message)
            self.state.open.has_earlier = more
            await self._mark_read()

    def _show_in_open(self, message: Message) -> None:
        chat = self.state.open
        if chat is None or message["seq"] in chat.shown:
            return
        self.show_message(message)
        chat.shown.add(message["seq"])
        chat.newest = max(chat.newest or 0, message["seq"])
        chat.oldest = min(chat.oldest or message["seq"], message["seq"])

    async def _mark_read(self) -> None:
        chat = self.state.open
        if chat is None or chat.newest is None:
            return
        with contextlib.suppress(ApiError, ServerUnreachable):
            await self.client.mark_read(chat.id, chat.newest)
        cached = self.state.chat(chat.id)
        if cached is not None:
            cached["unread_count"] = 0

    async def cmd_dm(self, username: str, text: str | None = None) -> None:
        client_id = uuid.uuid4().hex if text is not None else None
        chat = await self._with_retry(
            lambda: self.client.create_chat(
                [username], kind="direct", message=text, client_id=client_id
            )
        )
        await self._open(chat)

    async def cmd_group(self, name: str, *usernames: str) -> None:
        chat = await self.client.create_chat(list(usernames), kind="group", name=name)
        others = [p["username"] for p in chat["participants"] if p["id"] != self.state.me_id]
        self.say(f"Created {self.state.label(chat)} with {', '.join(others)}.")
        await self._open(chat)

    def _open_chat(self) -> OpenChat:
        if self.state.open is None:
            raise ShellError("No chat is open: /open CHAT or /dm USERNAME first.")
        return self.state.open

    async def cmd_members(self) -> None:
        chat = self._open_chat()
        for participant in await self.client.list_participants(chat.id):
            user = participant["user"]
            you = "  [you]" if user["id"] == self.state.me_id else ""
            self.say(f"{user['username']}{you}  (joined {_when(participant['joined_at'])})")

    async def cmd_invite(self, username: str) -> None:
        chat = self._open_chat()
        updated = await self.client.add_participant(chat.id, username)
        self.state.remember_chat(updated)
        self.say(f"Added {username} to {self.state.label(updated)}.")

    async def cmd_leave(self) -> None:
        chat = self._open_chat()
        assert self.state.me_id is not None
        self._leaving.add(chat.id)  # our own leaving needs no "you are no longer in" notice
        await self.client.remove_participant(chat.id, self.state.me_id)
        self.state.open = None
        self.state.chats = [c for c in self.state.chats if c["id"] != chat.id]
        self.say(f"You left {chat.label}.")

    async def cmd_history(self) -> None:
        chat = self._open_chat()
        if chat.oldest is None or not chat.has_earlier:
            self.notice("(this is the beginning of the chat)")
            return
        messages, more = await self.client.list_messages(chat.id, before=chat.oldest, limit=PAGE)
        async with self._show_lock:  # no live message in the middle of the page
            self.notice(f"--- earlier in {chat.label} ---")
            for message in messages:
                self.show_message(message)
                chat.shown.add(message["seq"])
            if messages:
                chat.oldest = messages[0]["seq"]
            chat.has_earlier = more
            if not more:
                self.notice("(this is the beginning of the chat)")

    async def send_text(self, text: str) -> None:
        """Send a line to the open chat; safe to retry thanks to its client_id."""
        if self.state.me is None:
            raise ShellError("You are not logged in: /login USERNAME or /register USERNAME.")
        chat = self._open_chat()
        client_id = uuid.uuid4().hex
        message = await self._with_retry(
            lambda: self.client.send_message(chat.id, text, client_id=client_id)
        )
        await self._show_new(message)

    async def _show_new(self, message: Message) -> None:
        """Show a new message of the open chat, first fetching any it skipped over."""
        async with self._show_lock:
            chat = self.state.open
            newest = chat.newest or 0 if chat is not None else 0
            if chat is None or chat.id != message["chat_id"] or message["seq"] <= newest:
                return  # not for the open chat, or shown (or history: /history shows it)
            if message["seq"] > newest + 1:  # seq has no gaps: we missed some
                with contextlib.suppress(ApiError, ServerUnreachable):
                    missed, _ = await self.client.list_messages(chat.id, after=newest, limit=200)
                    for earlier in missed:
                        if earlier["seq"] < message["seq"]:
                            self._show_in_open(earlier)
            self._show_in_open(message)
            if message["sender"]["id"] != self.state.me_id:
                await self._mark_read()
        cached = self.state.chat(message["chat_id"])
        if cached is not None:
            cached["last_message"] = message
            self.state.remember_chat(cached)

    # Live events

    async def _follow_events(self) -> None:
        """Print events as they come; reconnect with backoff, resuming after the last id."""
        failures = 0  # reconnections tried since the stream last worked
        told_lost = told_bug = False
        while self.client.token is not None:
            try:
                async for event in self.client.events(since=self.state.last_event_id):
                    if event.get("type") == "ready":
                        if failures:  # missed events follow, but a fresh view is cheap
                            await self._refresh("friends", "chats", "requests")
                        if told_lost:
                            self.notice("Live updates are back.")
                            told_lost = False
                        failures = 0
                    await self._on_event(event)
                    if isinstance(event.get("id"), int):
                        self.state.last_event_id = event["id"]
            except ApiError as exc:
                if exc.status == 404:
                    if not self._told_no_events:
                        self.notice(
                            "(This server has no live updates: new messages show when you "
                            "/open a chat or list /chats.)"
                        )
                        self._told_no_events = True
                    return
                if exc.status == 401:
                    return  # the token is gone; the next command says so
            except ServerUnreachable:
                pass
            except Exception as exc:  # a bug in handling an event: say so once, go on
                if not told_bug:
                    self.error(f"Live updates failed: {exc!r}")
                    told_bug = True
            # A blip is retried quietly; say so once the first retry has failed too.
            failures += 1
            if failures > 1 and not told_lost:
                self.notice("(Live updates lost; reconnecting...)")
                told_lost = True
            delays = self.reconnect_delays
            await asyncio.sleep(delays[min(failures - 1, len(delays) - 1)])

    async def _on_event(self, event: Event) -> None:
        kind = event.get("type")
        data = event.get("data") or {}
        try:
            if kind == "message.created":
                await self._on_message(cast(Message, data))
            elif kind in ("chat.created", "chat.updated"):
                await self._on_chat(kind, cast(Chat, data))
            elif kind == "friend_request.created":
                request = cast(FriendRequest, data)
                if request["to"]["id"] == self.state.me_id:
                    sender = request["from"]["username"]
                    self.state.incoming.insert(0, request)
                    self.state.usernames.add(sender)
                    self.notice(
                        f"» {sender} sent you a friend request: "
                        f"/accept {sender} or /reject {sender}"
                    )
            elif kind == "friend_request.updated":
                request = cast(FriendRequest, data)
                await self._refresh("friends", "requests")
                if request["from"]["id"] == self.state.me_id and request["status"] != "pending":
                    other = request["to"]["username"]
                    if request["status"] == "accepted":
                        self.notice(f"» {other} accepted your friend request.")
                    else:
                        self.notice(f"» {other} declined your friend request.")
            elif kind == "friend_request.withdrawn":
                gone = data.get("id")
                self.state.incoming = [r for r in self.state.incoming if r["id"] != gone]
            elif kind == "friend.removed":
                await self._refresh("friends")
            elif kind == "resync_required":
                await self._resync()
        except (ApiError, ServerUnreachable):
            pass  # the caches catch up at the next refresh

    async def _on_message(self, message: Message) -> None:
        open_chat = self.state.open
        if open_chat is not None and open_chat.id == message["chat_id"]:
            await self._show_new(message)
            return
        chat = self.state.chat(message["chat_id"])
        if chat is None:
            await self._refresh("chats")
            chat = self.state.chat(message["chat_id"])
        if chat is not None:
            chat["last_message"] = message
            if message["sender"]["id"] != self.state.me_id:
                chat["unread_count"] = chat.get("unread_count", 0) + 1
            self.state.remember_chat(chat)
        if message["sender"]["id"] == self.state.me_id:
            return  # sent from another of our sessions
        label = self.state.label(chat) if chat is not None else f"chat {message['chat_id']}"
        sender = message["sender"]["username"]
        self.notice(
            f"» {label} {sender}: {_one_line(message['body'], 50)}  (/open {message['chat_id']})"
        )

    async def _on_chat(self, kind: str, chat: Chat) -> None:
        mine = any(p["id"] == self.state.me_id for p in chat.get("participants", []))
        known = self.state.chat(chat["id"]) is not None
        await self._refresh("chats")
        if kind == "chat.created" and mine and chat.get("created_by") != self.state.me_id:
            label = self.state.label(chat)
            what = "added you to" if chat["kind"] == "group" else "started a chat with you:"
            creator = next(
                (p["username"] for p in chat["participants"] if p["id"] == chat["created_by"]),
                "someone",
            )
            self.notice(f"» {creator} {what} {label}  (/open {chat['id']})")
        elif kind == "chat.updated" and not mine and known and chat["id"] not in self._leaving:
            if self.state.open is not None and self.state.open.id == chat["id"]:
                self.state.open = None
            self.notice(f"» You are no longer in {self.state.label(chat)}.")

    async def _resync(self) -> None:
        """The server forgot what we missed: reload the caches and the open chat's news."""
        await self._refresh("friends", "chats", "requests")
        chat = self.state.open
        if chat is not None:
            messages, _ = await self.client.list_messages(
                chat.id, after=chat.newest or 0, limit=200
            )
            async with self._show_lock:
                for message in messages:
                    self._show_in_open(message)
                await self._mark_read()
