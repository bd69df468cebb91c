"""What the shell knows about the server, cached for completion and display, and its loading.

The completer reads State without I/O; the load_* functions below are the only
ones that fill it from the server wholesale (commands and live events also adjust it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields

from .client import ApiError, Chat, Client, Friend, FriendRequest, ServerUnreachable, User
from .render import chat_label


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
        fresh = State()
        for name in fields(self):
            setattr(self, name.name, getattr(fresh, name.name))

    @property
    def me_id(self) -> int | None:
        return self.me["id"] if self.me else None

    def chat(self, chat_id: int) -> Chat | None:
        return next((c for c in self.chats if c["id"] == chat_id), None)

    def label(self, chat: Chat) -> str:
        """What chat is called, as render.chat_label says, seen by the logged-in user."""
        return chat_label(chat, me_id=self.me_id)

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

    def forget_chat(self, chat_id: int) -> None:
        self.chats = [c for c in self.chats if c["id"] != chat_id]


async def refresh(client: Client, state: State, *what: str) -> None:
    """Reload the named caches (friends, chats, requests); failures leave them as they were."""
    for name in what:
        with contextlib.suppress(ApiError, ServerUnreachable):
            await LOADERS[name](client, state)


async def load_friends(client: Client, state: State) -> None:
    state.friends = await client.list_friends()
    state.usernames.update(f["user"]["username"] for f in state.friends)


async def load_chats(client: Client, state: State) -> None:
    state.chats = await client.list_chats()
    for chat in state.chats:
        state.usernames.update(p["username"] for p in chat["participants"])
    if state.open is not None:
        current = state.chat(state.open.id)
        if current is not None:
            state.open.label = state.label(current)


async def load_requests(client: Client, state: State) -> None:
    state.incoming = await client.list_requests(status="pending", direction="incoming")
    state.usernames.update(r["from"]["username"] for r in state.incoming)


LOADERS = {"friends": load_friends, "chats": load_chats, "requests": load_requests}
