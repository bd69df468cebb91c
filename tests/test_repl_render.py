"""repl.render: how chats are called on screen, without I/O."""

from __future__ import annotations

from typing import Any

from chaat.repl.client import Chat
from chaat.repl.render import chat_label, chat_phrase, is_called, members


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
