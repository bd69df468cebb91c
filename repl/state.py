"""What the shell knows about the server, cached for completion and display, and its loading.

The completer reads State without I/O; the load_* functions below are the only
ones that fill it from the server wholesale (commands and live events also adjust it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields

from .client import (
    ApiError,
    Block,
    Chat,
    Client,
    Friend,
    FriendRequest,
    Message,
    ServerUnreachable,
    User,
)
from .render import chat_label


@dataclass
class OpenChat:
    """The chat that plain text goes to, and which of its messages are on screen."""

    id: int
    label: str
    is_group: bool = False
    created_by: int | None = None
    shown: set[int] = field(default_factory=set)
    messages: dict[int, Message] = field(default_factory=dict)
    """Every message of the chat the shell has, by seq, as it is now: the ones shown
    and the ones replies quote."""
    oldest: int | None = None
    newest: int | None = None
    has_earlier: bool = False


@dataclass
class Unsent:
    """A line the server has not confirmed yet, kept to be sent again with its client_id."""

    chat_id: int
    text: str
    client_id: str
    reply_to: int | None = None


@dataclass
class State:
    """The logged-in user and cached server state, for completion and display."""

    me: User | None = None
    friends: list[Friend] = field(default_factory=list)
    chats: list[Chat] = field(default_factory=list)  # most recent activity first
    incoming: list[FriendRequest] = field(default_factory=list)  # pending, to me
    usernames: set[str] = field(default_factory=set)  # everyone seen, for /add
    blocks: list[Block] = field(default_factory=list)  # the users I block, newest first
    open: OpenChat | None = None
    last_event_id: int | None = None
    outbox: list[Unsent] = field(default_factory=list)  # oldest first
    typing: dict[int, dict[str, float]] = field(default_factory=dict)
    """Who is typing where: chat id -> username -> loop time their notice runs out."""

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

    def is_blocked(self, user_id: int) -> bool:
        return any(b["user"]["id"] == user_id for b in self.blocks)

    def blocked(self, username: str) -> User | None:
        """The user called username, if I block them."""
        wanted = username.casefold()
        return next(
            (b["user"] for b in self.blocks if b["user"]["username"].casefold() == wanted), None
        )

    def hides(self, message: Message) -> bool:
        """Whether message is hidden: sent by someone I block, in a group."""
        chat = self.chat(message["chat_id"])
        in_group = chat is not None and chat["kind"] == "group"
        return in_group and self.is_blocked(message["sender"]["id"])

    def remember_chat(self, chat: Chat) -> None:
        """Put chat in the cache, replacing its old copy, before every chat whose latest
        activity is older: an event that arrives late (after a reconnect, or just slow)
        does not lift a chat above one that is newer."""
        others = [c for c in self.chats if c["id"] != chat["id"]]
        at = latest_activity(chat)
        place = next((i for i, c in enumerate(others) if latest_activity(c) <= at), len(others))
        self.chats = [*others[:place], chat, *others[place:]]
        self.usernames.update(p["username"] for p in chat["participants"])
        if self.open is not None and self.open.id == chat["id"]:
            self.open.label = self.label(chat)

    def forget_chat(self, chat_id: int) -> None:
        self.chats = [c for c in self.chats if c["id"] != chat_id]


def latest_activity(chat: Chat) -> str:
    """When chat last saw a message, else when it was made: an RFC 3339 time in UTC,
    which sorts as text."""
    last = chat.get("last_message")
    return max(chat["created_at"], last["created_at"]) if last else chat["created_at"]


async def refresh(client: Client, state: State, *what: str) -> None:
    """Reload the named caches (friends, chats, requests, blocks); failures keep the old ones."""
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


async def load_blocks(client: Client, state: State) -> None:
    state.blocks = await client.list_blocks()


LOADERS = {
    "friends": load_friends,
    "chats": load_chats,
    "requests": load_requests,
    "blocks": load_blocks,
}
