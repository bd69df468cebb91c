"""Tab completion: commands, friends, users, chats and requests, from the cached State.

No I/O: completion runs while a key is being typed. What the word under the
cursor stands for comes from commands.expected_at.
"""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .commands import COMMANDS, STATUSES, Arg, Expected, expected_at
from .render import chat_meta, user_meta
from .state import State


class ChatCompleter(Completer):
    """Tab completion from the cached friends, chats and requests."""

    def __init__(self, state: State) -> None:
        self.state = state

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        expected = expected_at(document.text_before_cursor)
        if expected is None:
            return []
        complete = {
            Arg.COMMAND: self._commands,
            Arg.FRIEND: self._friends,
            Arg.USER: self._users,
            Arg.CHAT: self._chats,
            Arg.REQUEST: self._requests,
            Arg.STATUS: self._statuses,
        }.get(expected.kind)
        return complete(expected) if complete is not None else []

    def _commands(self, expected: Expected) -> Iterable[Completion]:
        word = expected.word
        slash = "/" if word.startswith("/") else ""
        for command in COMMANDS.values():
            if (slash + command.name).startswith(word.casefold()):
                yield Completion(
                    slash + command.name, -len(word), display=command.usage,
                    display_meta=command.help,
                )  # fmt: skip

    def _friends(self, expected: Expected) -> Iterable[Completion]:
        """Friends, leaving out those already named on the line."""
        folded = expected.word.casefold()
        taken = {w.casefold() for w in expected.before}
        for friend in self.state.friends:
            user = friend["user"]
            name = user["username"]
            if name.casefold().startswith(folded) and name.casefold() not in taken:
                yield Completion(name, -len(expected.word), display_meta=user_meta(user, "friend"))

    def _users(self, expected: Expected) -> Iterable[Completion]:
        """Users seen so far who are not friends yet (nor you)."""
        friends = {f["user"]["username"] for f in self.state.friends}
        me = self.state.me["username"] if self.state.me else None
        for name in sorted(self.state.usernames - friends - {me}, key=str.casefold):
            if name.casefold().startswith(expected.word.casefold()):
                yield Completion(name, -len(expected.word), display_meta="user")

    def _chats(self, expected: Expected) -> Iterable[Completion]:
        """Chat ids, shown with the chat's label (`2 #book club`, `3 @bob`, `4 bob, carol`)."""
        word = expected.word
        folded = word.casefold().lstrip("#@")
        for chat in self.state.chats:
            label = self.state.label(chat)
            if label[:1] in ("#", "@"):
                names = [label[1:]]
            else:  # a group without a name: any of its members
                names = [p["username"] for p in chat["participants"] if p["id"] != self.state.me_id]
            by_name = any(n.casefold().startswith(folded) for n in names)
            if not by_name and not str(chat["id"]).startswith(word):
                continue
            yield Completion(
                str(chat["id"]),
                -len(word),
                display=f"{chat['id']} {label}",
                display_meta=chat_meta(chat, me_id=self.state.me_id),
            )

    def _requests(self, expected: Expected) -> Iterable[Completion]:
        """Incoming friend requests, by id when digits are typed, else by sender."""
        word = expected.word
        for request in self.state.incoming:
            sender = request["from"]["username"]
            if word.isdigit() and str(request["id"]).startswith(word):
                text = str(request["id"])
            elif sender.casefold().startswith(word.casefold()):
                text = sender
            else:
                continue
            meta = f"friend request #{request['id']} from {sender}"
            yield Completion(text, -len(word), display=text, display_meta=meta)

    def _statuses(self, expected: Expected) -> Iterable[Completion]:
        for status in STATUSES:
            if status.startswith(expected.word.casefold()):
                yield Completion(status, -len(expected.word))
