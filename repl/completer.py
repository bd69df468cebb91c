"""Tab completion: commands, friends, users, chats, requests, message numbers and emoji,
from the cached State.

No I/O: completion runs while a key is being typed. What the word under the
cursor stands for comes from commands.expected_at.
"""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .client import Message
from .commands import COMMANDS, EMOJI, STATUSES, Arg, Expected, expected_at
from .render import body_line, chat_meta, user_meta, when
from .state import State

MESSAGES_OFFERED = 20
"""How many of the open chat's latest messages Tab offers where a number is expected."""


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
            Arg.ANYONE: self._anyone,
            Arg.BLOCKED: self._blocked,
            Arg.MESSAGE: self._messages,
            Arg.MY_MESSAGE: self._messages,
            Arg.DELETABLE: self._messages,
            Arg.EMOJI: self._emoji,
            Arg.MY_EMOJI: self._my_emoji,
        }.get(expected.kind)
        return complete(expected) if complete is not None else []

    def _commands(self, expected: Expected) -> Iterable[Completion]:
        """Command names; at the start of a line, with the space before its first argument."""
        word = expected.word
        slash = "/" if word.startswith("/") else ""
        for command in COMMANDS.values():
            if (slash + command.name).startswith(word.casefold()):
                space = " " if slash and command.params else ""
                yield Completion(
                    slash + command.name + space, -len(word), display=command.usage,
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

    def _anyone(self, expected: Expected) -> Iterable[Completion]:
        """Everyone seen so far but you and those you block already; friends first."""
        friends = [f["user"]["username"] for f in self.state.friends]
        others = sorted(self.state.usernames - set(friends), key=str.casefold)
        me = self.state.me["username"] if self.state.me else None
        blocked = {b["user"]["username"] for b in self.state.blocks}
        folded = expected.word.casefold()
        for name in dict.fromkeys([*friends, *others]):
            if name not in blocked and name != me and name.casefold().startswith(folded):
                meta = "friend" if name in friends else "user"
                yield Completion(name, -len(expected.word), display_meta=meta)

    def _blocked(self, expected: Expected) -> Iterable[Completion]:
        folded = expected.word.casefold()
        for blocked in self.state.blocks:
            name = blocked["user"]["username"]
            if name.casefold().startswith(folded):
                meta = f"blocked since {when(blocked['since'])}"
                yield Completion(name, -len(expected.word), display_meta=meta)

    def _messages(self, expected: Expected) -> Iterable[Completion]:
        """The open chat's latest messages, newest first, as their numbers: all of them, or
        yours (/edit), or those you may delete (yours; any, in a group you made)."""
        chat, me_id = self.state.open, self.state.me_id
        if chat is None:
            return
        mine_only = expected.kind is Arg.MY_MESSAGE or (
            expected.kind is Arg.DELETABLE and not (chat.is_group and chat.created_by == me_id)
        )
        offered = 0
        for seq in sorted(chat.shown, reverse=True):
            message = chat.messages[seq]
            if message.get("deleted_at") or self._hidden(message):
                continue
            if mine_only and message["sender"]["id"] != me_id:
                continue
            if str(seq).startswith(expected.word):
                meta = f"{message['sender']['username']}: {body_line(message, 40)}"
                yield Completion(str(seq), -len(expected.word), display_meta=meta)
            offered += 1
            if offered == MESSAGES_OFFERED:
                return

    def _emoji(self, expected: Expected) -> Iterable[Completion]:
        """The emoji already on the message (to join in), then those with a :shortcode:."""
        word = expected.word
        message = self._message_before(expected)
        offered = [r["emoji"] for r in message["reactions"]] if message and not word else []
        for emoji in offered:
            yield Completion(emoji, 0, display_meta="on this message")
        typed = word.removeprefix(":").casefold()
        for name, emoji in EMOJI.items():
            if emoji not in offered and name.startswith(typed):
                offered.append(emoji)
                yield Completion(emoji, -len(word), display=f"{emoji} :{name}:")

    def _my_emoji(self, expected: Expected) -> Iterable[Completion]:
        """The emoji you reacted with to the message."""
        message = self._message_before(expected)
        for reaction in message.get("reactions", []) if message is not None else []:
            if self.state.me_id in reaction["user_ids"] and reaction["emoji"].startswith(
                expected.word
            ):
                yield Completion(reaction["emoji"], -len(expected.word))

    def _message_before(self, expected: Expected) -> Message | None:
        """The open chat's message whose number is the argument before the word."""
        chat = self.state.open
        if chat is None or not expected.before or not expected.before[-1].isdigit():
            return None
        return chat.messages.get(int(expected.before[-1]))

    def _hidden(self, message: Message) -> bool:
        chat = self.state.open
        return chat is not None and chat.is_group and self.state.is_blocked(message["sender"]["id"])

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
