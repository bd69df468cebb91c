"""repl.render: how chats and messages look on screen, and in which order, without I/O."""

from __future__ import annotations

import re
from typing import Any

from chaat.repl.client import Chat, Message
from chaat.repl.render import (
    change_line,
    chat_label,
    chat_phrase,
    digest_line,
    is_called,
    members,
    message_parts,
    typing_text,
)
from chaat.repl.state import State


def chat(kind: str, name: str | None, *usernames: str) -> Chat:
    people: list[Any] = [{"id": n, "username": u} for n, u in enumerate(usernames, start=1)]
    return {"id": 7, "kind": kind, "name": name, "participants": people}  # type: ignore[typeddict-item]


def test_a_chat_is_called_by_its_name_its_other_side_or_its_members() -> None:
    assert chat_label(chat("group", "book club", "alice", "bob"), me_id=1) == "#book club"
    assert chat_label(chat("direct", None, "alice", "bob"), me_id=1) == "@bob"
    assert chat_label(chat("direct", None, "alice", "bob"), me_id=2) == "@alice"
    nameless = chat("group", None, "alice", "bob", "carol")
    assert chat_label(nameless, me_id=1) == "bob, carol"
    assert chat_phrase(nameless, me_id=1) == "the group with bob, carol"
    assert chat_phrase(chat("group", "x", "alice"), me_id=1) == "#x"


def test_a_big_nameless_group_names_a_few_and_counts_the_rest() -> None:
    big = chat("group", None, "alice", "bob", "carol", "dave", "erin", "frank")
    assert members(big, me_id=1) == "bob, carol, dave +2"
    assert members(chat("group", None, "alice"), me_id=1) == "just you"


def test_a_chat_is_found_by_what_it_is_called() -> None:
    named = chat("group", "Book Club", "alice", "bob")
    assert is_called(named, "#Book Club", me_id=1)
    assert is_called(named, "Book Club", me_id=1)
    assert not is_called(named, "book club", me_id=1)
    assert is_called(named, "book club", me_id=1, fold=True)
    assert is_called(chat("direct", None, "alice", "bob"), "@bob", me_id=1)
    nameless = chat("group", None, "alice", "bob", "carol")
    assert is_called(nameless, "bob, carol", me_id=1)
    assert not is_called(nameless, "#bob, carol", me_id=1)


# Messages (contract 1.1): replies, edits, tombstones, reactions


def message(seq: int, sender: str, body: str | None, **fields: Any) -> Message:
    sender_id = {"alice": 1, "bob": 2, "carol": 3}[sender]
    return {  # type: ignore[typeddict-item]
        "id": 100 + seq, "chat_id": 7, "seq": seq, "sender": {"id": sender_id, "username": sender},
        "body": body, "created_at": "2026-11-24T11:50:31.468671Z", "client_id": None,
        "reply_to": None, "edited_at": None, "deleted_at": None, "reactions": [], **fields,
    }  # fmt: skip


def text(message: Message, **options: Any) -> str:
    return "".join(part for _, part in message_parts(message, **options))


def test_a_message_shows_its_number_time_sender_and_text() -> None:
    shown = text(message(7, "bob", "yes!\nsee you"))
    assert re.fullmatch(r"  7 \d\d\d\d-\d\d-\d\d \d\d:\d\d bob: yes!\n {10}see you", shown)


def test_a_reply_quotes_the_first_line_of_what_it_answers() -> None:
    lunch = message(6, "alice", "lunch today?\nat noon")
    shown = text(message(7, "bob", "yes!", reply_to=6), replied=lunch)
    assert shown.startswith("          > alice: lunch today? …\n  7 ")
    assert "> message 6\n" in text(message(7, "bob", "yes!", reply_to=6))  # not at hand
    assert "> a message from someone you block\n" in text(
        message(7, "bob", "yes!", reply_to=6), replied=lunch, hidden=True
    )
    assert "> alice: (message deleted)\n" in text(
        message(7, "bob", "yes!", reply_to=6), replied=message(6, "alice", None, deleted_at="x")
    )


def test_edits_tombstones_and_reactions_show() -> None:
    assert text(message(7, "bob", "later", edited_at="t")).endswith("bob: later  (edited)")
    assert text(message(7, "bob", None, deleted_at="t")).endswith("bob: (message deleted)")
    reactions = [{"emoji": "👍", "user_ids": [1, 3]}, {"emoji": "❤️", "user_ids": [2]}]
    shown = text(message(7, "bob", "hi", reactions=reactions))
    assert shown.endswith("bob: hi\n          👍 2  ❤️ 1")


def test_a_change_is_one_line_naming_who_did_what() -> None:
    names = {1: "alice", 2: "bob", 3: "carol"}.__getitem__
    old = message(5, "alice", "lunch today?")

    def line(before: Message | None, after: Message) -> str | None:
        return change_line(before, after, me_id=1, name_of=names)

    thumbs = message(5, "alice", "lunch today?", reactions=[{"emoji": "👍", "user_ids": [3]}])
    assert line(old, thumbs) == "» carol reacted 👍 to message 5 (alice: lunch today?)"
    assert line(thumbs, old) == "» carol took back 👍 on message 5 (alice: lunch today?)"
    mine = message(5, "alice", "lunch today?", reactions=[{"emoji": "👍", "user_ids": [3, 1]}])
    assert line(thumbs, mine) == "» you reacted 👍 to message 5 (alice: lunch today?)"
    assert line(old, mine) == "» reactions on message 5 (alice: lunch today?): 👍 2"
    assert line(None, mine) == "» reactions on message 5 (alice: lunch today?): 👍 2"
    edited = message(5, "alice", "lunch tomorrow?", edited_at="t1")
    assert line(old, edited) == "» you edited message 5: lunch tomorrow?"
    assert line(edited, edited) is None  # told already
    gone = message(5, "alice", None, deleted_at="t2")
    assert line(edited, gone) == "» message 5 (alice: lunch tomorrow?) was deleted"
    assert line(gone, gone) is None
    assert line(None, gone) == "» message 5 (alice) was deleted"  # not seen before


def test_a_burst_of_messages_elsewhere_is_one_line() -> None:
    group = chat("group", "book club", "alice", "bob", "carol")
    burst = [message(n, ("bob", "carol")[n % 2], f"message {n}") for n in range(1, 121)]
    assert digest_line(burst, group, me_id=1) == (
        "» #book club 120 new messages from bob, carol; the last, bob: message 120  (/open 7)"
    )
    assert digest_line(burst[:1], group, me_id=1) == ("» #book club carol: message 1  (/open 7)")


def test_who_is_typing() -> None:
    assert typing_text(["bob"]) == "bob is typing…"
    assert typing_text(["bob", "carol"]) == "bob and carol are typing…"
    assert typing_text(["bob", "carol", "dave"]) == "bob, carol and dave are typing…"
    assert typing_text(["bob", "carol", "dave", "erin"]) == "4 people are typing…"


def test_a_late_message_event_does_not_lift_an_older_chat_above_a_newer_one() -> None:
    def dated(chat_id: int, created_at: str) -> Chat:
        made = chat("group", f"g{chat_id}", "alice", "bob")
        return {**made, "id": chat_id, "created_at": created_at, "last_message": None}  # type: ignore[typeddict-item]

    state = State()
    direct, group = dated(1, "2026-11-30T10:00:00.000000Z"), dated(2, "2026-11-30T10:00:05.000000Z")
    state.remember_chat(direct)
    state.remember_chat(group)
    # "hi" was sent before the group was made; its event comes after (a replay, a slow
    # dispatch): the group stays first.
    hi = {**message(1, "alice", "hi"), "chat_id": 1, "created_at": "2026-11-30T10:00:01.000000Z"}
    state.remember_chat({**direct, "last_message": hi})  # type: ignore[typeddict-item]
    assert [c["id"] for c in state.chats] == [2, 1]
    later = {**hi, "seq": 2, "created_at": "2026-11-30T10:00:09.000000Z"}
    state.remember_chat({**direct, "last_message": later})  # type: ignore[typeddict-item]
    assert [c["id"] for c in state.chats] == [1, 2]
