"""Groups and people in the shell (contract 1.1): /rename, and blocking someone."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from conftest import befriend, new_chat, sign_up
from test_repl import Open, completions, live, needs_events, send, until

pytest_plugins = ["test_repl"]  # the shell's harness: the terminal, server and api fixtures


@needs_events
async def test_rename_names_a_group_and_takes_the_name_away(
    terminal: Open, api: TestClient
) -> None:
    alice, bob, carol = [await sign_up(api, name) for name in ("alice", "bob", "carol")]
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    group = await new_chat(api, alice, ["bob", "carol"], kind="group")
    direct = await new_chat(api, alice, ["bob"])
    term_a, term_b = await terminal(), await terminal()
    await term_a.login("alice")
    await term_b.login("bob")
    await live(term_a, term_b)
    await term_a.run(f"/open {group['id']}", r"--- bob, carol ")
    await term_b.run(f"/open {group['id']}", r"--- alice, carol ")

    await term_a.run("/rename #book club", r"Renamed the group to #book club\.\n")
    assert term_a.shell.where == "alice #book club"
    await until(lambda: term_b.shell.where == "bob #book club")  # live, for the others
    await term_a.run('/rename "weekend trip"', r"Renamed the group to #weekend trip\.\n")
    await term_a.run("/rename", r"The group has no name now: it shows as bob, carol\.\n")
    await until(lambda: term_b.shell.where == "bob alice, carol")
    await term_a.run(f"/open {direct['id']}", "No messages yet")
    await term_a.run("/rename pals", r"error: Direct chats are fixed: this only works on group")


@needs_events
async def test_blocking_hides_their_group_messages_until_unblocked(
    terminal: Open, api: TestClient
) -> None:
    alice, bob, carol = [await sign_up(api, name) for name in ("alice", "bob", "carol")]
    await befriend(api, alice, bob)
    await befriend(api, alice, carol)
    await befriend(api, bob, carol)
    group = await new_chat(api, carol, ["alice", "bob"], name="lunch")
    other = await new_chat(api, carol, ["alice", "bob"], name="weekend")
    await send(api, bob.token, group["id"], "before the block")
    term = await terminal()
    await term.login("alice")
    await live(term)
    assert [c.text for c in completions(term, "/block ")] == ["bob", "carol"]  # friends first
    out = await term.run("/block bob", r"/unblock bob undoes it\.\n")
    assert out == (
        "You block bob: you are not friends, neither can send the other a request, and their "
        "messages in groups are hidden. /unblock bob undoes it.\n"
    )
    out = await term.run("/blocks", r"\n")
    assert re.fullmatch(r"bob  \(blocked since \d\d:\d\d\)\n", out), out
    await term.run("/friends", "carol")
    assert "bob  (friends since" not in term.text
    assert [c.text for c in completions(term, "/block ")] == ["carol"]
    assert [c.text for c in completions(term, "/unblock ")] == ["bob"]

    # In a group, what bob says is not shown, live or in history, nor told from elsewhere
    await term.run(f"/open {group['id']}", "No messages yet|--- #lunch")
    await send(api, bob.token, group["id"], "can you see me?")
    await send(api, bob.token, other["id"], "or here?")
    reply = await send(api, carol.token, group["id"], "only carol")
    await term.expect(rf" {reply['seq']} \d\d:\d\d carol: only carol\n")
    resp = await api.post(
        f"/v1/chats/{group['id']}/messages",
        json={"body": "re", "reply_to": 2},
        headers=carol.headers,
    )
    assert resp.status == 201, await resp.text()
    await term.expect(r"> a message from someone you block\n.*carol: re\n")
    # ... nor what bob does to others' messages
    for who, emoji in ((bob, "%F0%9F%91%8D"), (carol, "%E2%9D%A4%EF%B8%8F")):  # 👍, then ❤️
        resp = await api.put(
            f"/v1/chats/{group['id']}/messages/3/reactions/{emoji}", headers=who.headers
        )
        assert resp.status == 200, await resp.text()
    await term.expect(r"» carol reacted ❤️ to message 3 \(carol: only carol\)\n")
    await term.settle()
    assert "👍" not in term.text
    assert "before the block" not in term.text
    assert "can you see me" not in term.text
    assert "or here?" not in term.text
    assert [c.text for c in completions(term, "/reply ")] == ["4", "3"]  # carol's only
    out = await term.run("/chats", rf"{other['id']}  #weekend .*\n")
    assert out.endswith("(a message from someone you block)\n"), out
    await term.run("/dm bob hi", r"error: You block bob: /unblock bob first, then /add bob\.\n")

    # Blocks are loaded at login too
    again = await terminal()
    await again.login("alice")
    out = await again.run(f"/open {group['id']}", r"carol: re\n")
    assert "bob" not in out.replace("--- #lunch", "")

    await term.run("/unblock bob", r"You no longer block bob\. /add bob to be friends again\.\n")
    await term.run("/blocks", "You block no one.")
    await term.run("/unblock bob", r"error: You do not block bob: /blocks lists whom you do\.\n")
    await term.run(f"/open {group['id']}", "carol: re\n")
    assert "bob: can you see me?" in term.text
    await term.run("/block alice", r"error: You cannot block yourself\.\n")
