"""Who is typing: the notices the shell sends while you type in a chat, and the bottom
toolbar that names whoever types in the open chat.

The contract lets the server drop notices that come more often than one per 2
seconds per user and chat, and asks clients to show one for about 5 seconds: the
shell sends at most one per `send_every` seconds while you type text for the open
chat, and names someone until `shown` seconds after their last notice (or until
their message arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import TYPE_CHECKING

from .client import ApiError, Sender, ServerUnreachable
from .render import typing_text

if TYPE_CHECKING:
    from .shell import Shell


class Activity:
    """Typing notices, both ways, for one shell."""

    def __init__(self, shell: Shell, *, shown: float = 5.0, send_every: float = 2.0) -> None:
        self.shell = shell
        self.shown = shown
        self.send_every = send_every
        self._sent: dict[int, float] = {}  # chat id -> loop time of our last notice there
        self._sending: set[asyncio.Task[None]] = set()

    # Ours

    def typed(self, text: str) -> None:
        """The input line changed to text: tell the open chat we type, if it is time to."""
        if not text.strip() or (text.startswith("/") and not text.startswith(("//", "/reply "))):
            return  # a command is not a message being written
        state, chat = self.shell.state, self.shell.state.open
        if state.me is None or chat is None or self.shell.client.token is None:
            return
        now = asyncio.get_running_loop().time()
        if now - self._sent.get(chat.id, -math.inf) < self.send_every:
            return
        self._sent[chat.id] = now
        task = asyncio.ensure_future(self._send(chat.id))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, chat_id: int) -> None:
        with contextlib.suppress(ApiError, ServerUnreachable):  # a lost notice is no loss
            await self.shell.client.typing(chat_id)

    # Theirs

    def seen(self, chat_id: int, user: Sender) -> None:
        """user is typing in chat_id (a `typing` event)."""
        state = self.shell.state
        if user["id"] == state.me_id or self.shell.state.is_blocked(user["id"]):
            return
        loop = asyncio.get_running_loop()
        who = state.typing.setdefault(chat_id, {})
        who.pop(user["username"], None)  # the latest notice goes last
        who[user["username"]] = loop.time() + self.shown
        loop.call_later(self.shown + 0.01, self.refresh)  # just after it runs out
        self.refresh()

    def stopped(self, chat_id: int, username: str) -> None:
        """username's message arrived: they are done typing it."""
        if self.shell.state.typing.get(chat_id, {}).pop(username, None) is not None:
            self.refresh()

    def refresh(self) -> None:
        """Show in the bottom toolbar who is typing in the open chat now; nothing if no one."""
        state = self.shell.state
        names: list[str] = []
        if state.open is not None:
            now = asyncio.get_running_loop().time()
            who = state.typing.get(state.open.id, {})
            for name, until in list(who.items()):
                if until <= now:
                    del who[name]
            names = list(who)
        text = typing_text(names) if names else None
        session = self.shell.session
        if session.bottom_toolbar != text:
            session.bottom_toolbar = text
            session.app.invalidate()

    def clear(self) -> None:
        """Forget every notice, ours and theirs (the session ended)."""
        for task in self._sending:
            task.cancel()
        self._sent.clear()
        self.refresh()
