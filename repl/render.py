"""How things look on screen: chats, messages, requests and times, as text. No I/O here.

A chat is shown as `#name` (a named group), `@bob` (a direct chat, by the other
side) or by its members but you (`bob, carol`: a group without a name).

A message of the open chat is its number in the chat (its seq, which /reply, /edit,
/delete and /react take), the time, the sender and the text, with what it answers
quoted above it and its reactions below:

            > alice: lunch today?
      7 12:17 bob: yes! 12:30?  (edited)
            👍 2  ❤️ 1
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prompt_toolkit.styles import Style

from .client import Chat, FriendRequest, Message, Reaction, User

STYLE = Style.from_dict(
    {
        "error": "ansired",
        "notice": "ansibrightblack",
        "time": "ansibrightblack",
        "seq": "ansibrightblack",
        "sender": "bold",
        "quote": "ansibrightblack",
        "deleted": "ansibrightblack italic",
        "prompt": "ansicyan",
        "pending": "ansiyellow",
        "bottom-toolbar": "noreverse",
        "bottom-toolbar.text": "ansibrightblack italic",
    }
)

INDENT = " " * 10
"""Where the text of a message starts (after `  7 12:17 `): its quote, reactions and
further lines line up there."""

DELETED = "(message deleted)"

MEMBERS_SHOWN = 3
"""How many members name a nameless group; the others are counted."""


def chat_label(chat: Chat, *, me_id: int | None) -> str:
    """What a chat is called: #name, @username of the other side, or a nameless group's members."""
    if chat["kind"] == "group":
        return "#" + chat["name"] if chat["name"] is not None else members(chat, me_id=me_id)
    others = [p["username"] for p in chat["participants"] if p["id"] != me_id]
    me = [p["username"] for p in chat["participants"] if p["id"] == me_id]
    return "@" + (others or me or ["?"])[0]


def chat_phrase(chat: Chat, *, me_id: int | None) -> str:
    """The chat in a sentence: its label, or "the group with bob, carol" for a nameless group."""
    if chat["kind"] == "group" and chat["name"] is None:
        return f"the group with {members(chat, me_id=me_id)}"
    return chat_label(chat, me_id=me_id)


def members(chat: Chat, *, me_id: int | None) -> str:
    """The members but you, the first few by name: `bob, carol, dave +2`."""
    names = [p["username"] for p in chat["participants"] if p["id"] != me_id]
    if not names:
        return "just you"
    shown = ", ".join(names[:MEMBERS_SHOWN])
    return shown if len(names) <= MEMBERS_SHOWN else f"{shown} +{len(names) - MEMBERS_SHOWN}"


def is_called(chat: Chat, ref: str, *, me_id: int | None, fold: bool = False) -> bool:
    """Whether ref names chat: its label, or the label without its # or @."""
    label = chat_label(chat, me_id=me_id)
    names = {label, label[1:]} if label[:1] in ("#", "@") else {label}
    if ref[:1] in ("#", "@"):
        names = {label}
    if fold:
        return ref.casefold() in {n.casefold() for n in names}
    return ref in names


def chat_meta(chat: Chat, *, me_id: int | None) -> str:
    """What a chat is, for the completion menu: `group, 3 members, 2 unread`."""
    if chat["kind"] == "group":
        meta = f"group, {len(chat['participants'])} members"
    else:
        meta = f"direct chat with {chat_label(chat, me_id=me_id)[1:]}"
    if chat.get("unread_count"):
        meta += f", {chat['unread_count']} unread"
    return meta


def chat_row(chat: Chat, *, me_id: int | None, width: int, hide_last: bool = False) -> str:
    """One line of /chats: id, label, unread count, last message (unless hidden: you block
    its sender)."""
    unread = f"{chat['unread_count']} unread" if chat.get("unread_count") else ""
    last = chat.get("last_message")
    text = f"{last['sender']['username']}: {body_line(last, 50)}" if last else ""
    if last is not None and hide_last:
        text = "(a message from someone you block)"
    return f"{chat['id']:>4}  {chat_label(chat, me_id=me_id):<{width}}  {unread:<9}  {text}"


def _where(chat: Chat | None, chat_id: int, *, me_id: int | None) -> str:
    """A chat at the start of a notice: its label, a nameless group's members in brackets."""
    if chat is None:
        return f"chat {chat_id}"
    if chat["kind"] == "group" and chat["name"] is None:
        return f"({chat_label(chat, me_id=me_id)})"
    return chat_label(chat, me_id=me_id)


def message_notice(message: Message, chat: Chat | None, *, me_id: int | None) -> str:
    """A message of a chat that is not open, in one line."""
    where = _where(chat, message["chat_id"], me_id=me_id)
    sender = message["sender"]["username"]
    return f"» {where} {sender}: {body_line(message, 50)}  (/open {message['chat_id']})"


def digest_line(messages: list[Message], chat: Chat | None, *, me_id: int | None) -> str:
    """Several messages of a chat that is not open, in one line: how many, from whom, the last."""
    if len(messages) == 1:
        return message_notice(messages[0], chat, me_id=me_id)
    last = messages[-1]
    where = _where(chat, last["chat_id"], me_id=me_id)
    senders = list(dict.fromkeys(m["sender"]["username"] for m in reversed(messages)))
    who = ", ".join(senders[:MEMBERS_SHOWN])
    if len(senders) > MEMBERS_SHOWN:
        who += f" +{len(senders) - MEMBERS_SHOWN}"
    return (
        f"» {where} {len(messages)} new messages from {who}; the last, "
        f"{last['sender']['username']}: {body_line(last, 40)}  (/open {last['chat_id']})"
    )


def body_line(message: Message, width: int = 60) -> str:
    """A message's text on one line, cut to width; a deleted one says so."""
    body = message.get("body")
    return DELETED if body is None else one_line(body, width)


def quote(message: Message, width: int = 50) -> str:
    """A message in a line about it, by its first line: `alice: lunch today? …`."""
    body = message.get("body")
    if body is None:
        text = DELETED
    else:
        lines = body.strip().splitlines() or [""]
        text = one_line(lines[0], width)
        if len(lines) > 1 and not text.endswith("…"):
            text += " …"
    return f"{message['sender']['username']}: {text}"


def message_parts(
    message: Message, *, replied: Message | None = None, hidden: bool = False
) -> list[tuple[str, str]]:
    """A message of the open chat, as styled text: `  7 12:16 bob: hello`.

    replied is the message it answers, quoted above it when known (hidden: its
    sender is someone you block); reactions follow on a line of their own.
    """
    parts: list[tuple[str, str]] = []
    reply_to = message.get("reply_to")
    if reply_to is not None:
        if hidden:
            what = "a message from someone you block"
        elif replied is not None:
            what = quote(replied, 60)
        else:
            what = f"message {reply_to}"
        parts.append(("class:quote", f"{INDENT}> {what}\n"))
    parts += [
        ("class:seq", f"{message['seq']:>3} "),
        ("class:time", when(message["created_at"]) + " "),
        ("class:sender", message["sender"]["username"]),
        ("", ": "),
    ]
    body = message.get("body")
    if body is None:
        parts.append(("class:deleted", DELETED))
    else:
        parts.append(("", body.replace("\n", "\n" + INDENT)))
        if message.get("edited_at"):
            parts.append(("class:notice", "  (edited)"))
    reactions = message.get("reactions") or []
    if reactions:
        parts.append(("", "\n" + INDENT + reactions_text(reactions)))
    return parts


def reactions_text(reactions: list[Reaction]) -> str:
    """`👍 2  ❤️ 1`: each emoji with how many reacted with it, in the order they were first used."""
    return "  ".join(f"{r['emoji']} {len(r['user_ids'])}" for r in reactions)


def change_line(
    old: Message | None, new: Message, *, me_id: int | None, name_of: Callable[[int], str]
) -> str | None:
    """What changed in a message of the open chat, as one `»` line; None when nothing did.

    old is the message as the shell had it (None if it had not seen it); name_of
    names a user by id (`you` for the caller is decided here).
    """

    def name(user_id: int) -> str:
        return "you" if user_id == me_id else name_of(user_id)

    seq = new["seq"]
    about = f"message {seq} ({quote(old if old is not None else new, 40)})"
    if new.get("deleted_at"):
        if old is None:
            return f"» message {seq} ({new['sender']['username']}) was deleted"
        return None if old.get("deleted_at") else f"» {about} was deleted"
    if new.get("edited_at") and (old is None or old.get("edited_at") != new["edited_at"]):
        return f"» {name(new['sender']['id'])} edited message {seq}: {body_line(new, 60)}"
    after = {r["emoji"]: r["user_ids"] for r in new.get("reactions") or []}
    if old is None:
        return f"» reactions on {about}: {reactions_text(new['reactions'])}" if after else None
    before = {r["emoji"]: r["user_ids"] for r in old.get("reactions") or []}
    added = [(e, u) for e, users in after.items() for u in users if u not in before.get(e, [])]
    taken = [(e, u) for e, users in before.items() for u in users if u not in after.get(e, [])]
    if not added and not taken:
        return None
    if len(added) + len(taken) == 1:
        if added:
            emoji, user_id = added[0]
            return f"» {name(user_id)} reacted {emoji} to {about}"
        emoji, user_id = taken[0]
        return f"» {name(user_id)} took back {emoji} on {about}"
    now = reactions_text(new["reactions"]) or "none"
    return f"» reactions on {about}: {now}"


def search_line(message: Message, chat: Chat | None, *, me_id: int | None) -> str:
    """One result of /search: where, which message, when, who and what."""
    where = _where(chat, message["chat_id"], me_id=me_id)
    sender = message["sender"]["username"]
    return (
        f"{where} {message['seq']:>3} {when(message['created_at'])} {sender}: "
        f"{body_line(message, 60)}  (/open {message['chat_id']})"
    )


def typing_text(usernames: list[str]) -> str:
    """The bottom toolbar while people type in the open chat: `bob is typing…`."""
    if len(usernames) == 1:
        return f"{usernames[0]} is typing…"
    if len(usernames) <= MEMBERS_SHOWN:
        return f"{', '.join(usernames[:-1])} and {usernames[-1]} are typing…"
    return f"{len(usernames)} people are typing…"


def request_line(request: FriendRequest, *, me_id: int | None) -> str:
    """One line of /requests."""
    incoming = request["to"]["id"] == me_id
    other = (request["from"] if incoming else request["to"])["username"]
    line = f"#{request['id']}  {'from' if incoming else 'to'} {other}  {request['status']}"
    if incoming and request["status"] == "pending":
        line += f"  (/accept {other} or /reject {other})"
    return line


def user_meta(user: User, what: str) -> str:
    """What a user is, with their display name when it differs from the username."""
    if user.get("display_name") and user["display_name"] != user["username"]:
        return f"{what}: {user['display_name']}"
    return what


def one_line(text: str, width: int = 60) -> str:
    """text on one line, cut to width characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def when(timestamp: str, *, today: datetime | None = None) -> str:
    """HH:MM in local time, with the date when it is not today."""
    try:
        moment = datetime.fromisoformat(timestamp).astimezone()
    except ValueError:
        return timestamp
    today = today or datetime.now().astimezone()
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
