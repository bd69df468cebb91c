"""How things look on screen: chats, messages, requests and times, as text. No I/O here.

A chat is shown as `#name` (a named group), `@bob` (a direct chat, by the other
side) or by its members but you (`bob, carol`: a group without a name).
"""

from __future__ import annotations

from datetime import datetime

from prompt_toolkit.styles import Style

from .client import Chat, FriendRequest, Message, User

STYLE = Style.from_dict(
    {
        "error": "ansired",
        "notice": "ansibrightblack",
        "time": "ansibrightblack",
        "sender": "bold",
        "prompt": "ansicyan",
    }
)

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


def chat_row(chat: Chat, *, me_id: int | None, width: int) -> str:
    """One line of /chats: id, label, unread count, last message."""
    unread = f"{chat['unread_count']} unread" if chat.get("unread_count") else ""
    last = chat.get("last_message")
    text = f"{last['sender']['username']}: {one_line(last['body'], 50)}" if last else ""
    return f"{chat['id']:>4}  {chat_label(chat, me_id=me_id):<{width}}  {unread:<9}  {text}"


def message_notice(message: Message, chat: Chat | None, *, me_id: int | None) -> str:
    """A message of a chat that is not open, in one line."""
    if chat is None:
        where = f"chat {message['chat_id']}"
    elif chat["kind"] == "group" and chat["name"] is None:
        where = f"({chat_label(chat, me_id=me_id)})"
    else:
        where = chat_label(chat, me_id=me_id)
    sender = message["sender"]["username"]
    body = one_line(message["body"], 50)
    return f"» {where} {sender}: {body}  (/open {message['chat_id']})"


def message_parts(message: Message) -> list[tuple[str, str]]:
    """A message of the open chat, as styled text: `12:16 bob: hello`."""
    return [
        ("class:time", when(message["created_at"]) + " "),
        ("class:sender", message["sender"]["username"]),
        ("", ": " + message["body"].replace("\n", "\n    ")),
    ]


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
