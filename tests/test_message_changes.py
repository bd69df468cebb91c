"""Contract 1.1 on messages: replies, reading one, edits, tombstones, reactions, read receipts."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import asyncpg
import pytest
from conftest import TIMESTAMP, befriend, error_of, new_chat, problem_fields, sign_up
from test_events import connect
from test_messages import send

THUMBS, HEART, SMILE = "👍", "❤️", "😄"


async def get(client, who, chat_id, seq):
    resp = await client.get(f"/v1/chats/{chat_id}/messages/{seq}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def reaction_path(chat_id, seq, emoji):
    return f"/v1/chats/{chat_id}/messages/{seq}/reactions/{quote(emoji, safe='')}"


async def react(client, who, chat_id, seq, emoji, *, add=True):
    method = client.put if add else client.delete
    resp = await method(reaction_path(chat_id, seq, emoji), headers=who.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


@pytest.fixture
async def direct(client, alice, bob):
    await befriend(client, alice, bob)
    return await new_chat(client, alice, ["bob"])


@pytest.fixture
async def group(client, alice, bob, carol):
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    return await new_chat(client, alice, ["bob", "carol"], kind="group")


# Replies and reading one message


async def test_a_reply_names_the_seq_it_answers_in_the_same_chat(client, alice, bob, direct):
    first = await send(client, alice, direct["id"], "lunch?")
    reply = await send(client, bob, direct["id"], "yes", reply_to=first["seq"])
    assert reply["reply_to"] == first["seq"]
    assert (await get(client, alice, direct["id"], reply["seq"])) == reply


async def test_a_reply_to_no_message_of_this_chat_is_refused(client, alice, bob, carol, direct):
    await befriend(client, alice, carol)
    other = await new_chat(client, alice, ["carol"])
    for n in range(3):
        await send(client, alice, other["id"], f"elsewhere {n}")
    await send(client, alice, direct["id"], "only one here")
    for reply_to in (2, 5):  # seq 2 exists, but in the other chat only
        resp = await client.post(
            f"/v1/chats/{direct['id']}/messages",
            json={"body": "re", "reply_to": reply_to},
            headers=bob.headers,
        )
        assert await problem_fields(resp) == {"reply_to"}
    for reply_to in (0, -1, "1", 1.5):  # a rule of the body alone, even for a foreign chat
        resp = await client.post(
            f"/v1/chats/{other['id']}/messages",
            json={"body": "re", "reply_to": reply_to},
            headers=bob.headers,
        )
        assert await problem_fields(resp) == {"reply_to"}
    history = await client.get(f"/v1/chats/{direct['id']}/messages", headers=bob.headers)
    assert [m["body"] for m in (await history.json())["items"]] == ["only one here"]


async def test_a_retry_with_another_reply_to_is_a_conflict(client, alice, direct):
    await send(client, alice, direct["id"], "one")
    await send(client, alice, direct["id"], "two")
    sent = await send(client, alice, direct["id"], "re", reply_to=1, client_id="r-1")
    path = f"/v1/chats/{direct['id']}/messages"
    same = {"body": "re", "reply_to": 1, "client_id": "r-1"}
    resp = await client.post(path, json=same, headers=alice.headers)
    assert resp.status == 200
    assert (await resp.json())["id"] == sent["id"]
    resp = await client.post(path, json={**same, "reply_to": 2}, headers=alice.headers)
    assert await error_of(resp) == (409, "client_id_conflict")
    resp = await client.post(path, json={**same, "reply_to": None}, headers=alice.headers)
    assert await error_of(resp) == (409, "client_id_conflict")


async def test_one_message_is_404_for_anyone_outside_the_chat(client, alice, carol, direct):
    message = await send(client, alice, direct["id"], "hi")
    for who, chat_id, seq in (
        (carol, direct["id"], message["seq"]),  # not a participant
        (alice, direct["id"], 2),  # no such seq
        (alice, direct["id"], "first"),  # not a seq at all
        (alice, direct["id"], 0),
        (alice, direct["id"], 2**63),
    ):
        resp = await client.get(f"/v1/chats/{chat_id}/messages/{seq}", headers=who.headers)
        assert await error_of(resp) == (404, "not_found")


# Editing


async def test_the_sender_edits_and_edited_at_is_set_even_for_the_same_body(
    client, alice, bob, direct
):
    message = await send(client, alice, direct["id"], "helo")
    path = f"/v1/chats/{direct['id']}/messages/{message['seq']}"
    resp = await client.patch(path, json={"body": "hello"}, headers=alice.headers)
    assert resp.status == 200
    edited = await resp.json()
    assert (edited["body"], edited["seq"], edited["id"]) == ("hello", 1, message["id"])
    assert TIMESTAMP.fullmatch(edited["edited_at"])
    assert edited["created_at"] == message["created_at"]
    resp = await client.patch(path, json={"body": "hello"}, headers=alice.headers)
    again = await resp.json()
    assert again["edited_at"] > edited["edited_at"]
    assert await get(client, bob, direct["id"], 1) == again


async def test_only_the_sender_edits_and_the_body_rules_come_first(client, alice, bob, direct):
    message = await send(client, alice, direct["id"], "mine")
    path = f"/v1/chats/{direct['id']}/messages/{message['seq']}"
    resp = await client.patch(path, json={"body": "theirs"}, headers=bob.headers)
    assert await error_of(resp) == (403, "forbidden")
    resp = await client.patch(path, json={"body": " "}, headers=bob.headers)
    assert await error_of(resp) == (422, "empty_body")
    resp = await client.patch(
        f"/v1/chats/{direct['id']}/messages/9", json={"body": "x" * 4001}, headers=alice.headers
    )
    assert await error_of(resp) == (422, "body_too_long")
    resp = await client.patch(path, json={"body": "x", "seq": 2}, headers=alice.headers)
    assert await problem_fields(resp) == {"seq"}
    resp = await client.patch(
        f"/v1/chats/{direct['id']}/messages/9", json={"body": "x"}, headers=alice.headers
    )
    assert await error_of(resp) == (404, "not_found")
    assert (await get(client, alice, direct["id"], 1))["body"] == "mine"


async def test_editing_in_a_direct_chat_needs_the_two_to_be_friends(client, alice, bob, direct):
    message = await send(client, alice, direct["id"], "before")
    resp = await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)
    assert resp.status == 204
    resp = await client.patch(
        f"/v1/chats/{direct['id']}/messages/{message['seq']}",
        json={"body": "after"},
        headers=alice.headers,
    )
    assert await error_of(resp) == (403, "not_friends")
    assert (await resp.json())["error"]["details"][0]["value"] == "bob"


# Deleting: tombstones


async def test_a_deleted_message_stays_as_a_tombstone_in_its_place(client, alice, bob, direct):
    first = await send(client, alice, direct["id"], "one")
    second = await send(client, alice, direct["id"], "two", reply_to=1)
    await send(client, bob, direct["id"], "three")
    await react(client, bob, direct["id"], 2, THUMBS)
    resp = await client.delete(f"/v1/chats/{direct['id']}/messages/2", headers=alice.headers)
    assert resp.status == 204
    assert await resp.read() == b""
    tombstone = await get(client, bob, direct["id"], 2)
    assert tombstone["body"] is None
    assert tombstone["reactions"] == []
    assert TIMESTAMP.fullmatch(tombstone["deleted_at"])
    assert (tombstone["id"], tombstone["seq"], tombstone["reply_to"]) == (second["id"], 2, 1)
    resp = await client.get(f"/v1/chats/{direct['id']}/messages", headers=bob.headers)
    assert [m["body"] for m in (await resp.json())["items"]] == ["one", None, "three"]
    # A reply to a tombstone is fine; editing or reacting to one is a conflict.
    assert (await send(client, bob, direct["id"], "what?", reply_to=2))["reply_to"] == 2
    resp = await client.patch(
        f"/v1/chats/{direct['id']}/messages/2", json={"body": "back"}, headers=alice.headers
    )
    assert await error_of(resp) == (409, "message_deleted")
    resp = await client.put(reaction_path(direct["id"], 2, THUMBS), headers=bob.headers)
    assert await error_of(resp) == (409, "message_deleted")
    assert (await react(client, bob, direct["id"], 2, THUMBS, add=False)) == tombstone
    # Deleting it again is harmless and changes nothing.
    resp = await client.delete(f"/v1/chats/{direct['id']}/messages/2", headers=alice.headers)
    assert resp.status == 204
    assert await get(client, bob, direct["id"], 2) == tombstone
    assert (await get(client, alice, direct["id"], 1)) == first


async def test_every_reader_shows_every_change_of_a_message(client, conn, alice, bob, group):
    """Readers read each message's JSON as stored at its last change (message.api_json):
    an edit, a reaction, a deletion, and an operator's change in SQL (a body moderated,
    a user renamed) show in one message, history, the chat list and search alike."""
    chat_id = group["id"]
    sent = await send(client, alice, chat_id, "first words")

    async def everywhere(words):
        one = await get(client, bob, chat_id, sent["seq"])
        resp = await client.get(f"/v1/chats/{chat_id}/messages", headers=bob.headers)
        assert (await resp.json())["items"] == [one]
        resp = await client.get("/v1/chats", headers=bob.headers)
        chats = {c["id"]: c for c in (await resp.json())["items"]}
        assert chats[chat_id]["last_message"] == one
        # Search finds it by its words; a tombstone, by none.
        resp = await client.get("/v1/messages", params={"q": words}, headers=bob.headers)
        assert (await resp.json())["items"] == ([one] if one["body"] else [])
        return one

    assert await everywhere("first") == sent
    path = f"/v1/chats/{chat_id}/messages/{sent['seq']}"
    resp = await client.patch(path, json={"body": "second words"}, headers=alice.headers)
    assert await everywhere("second") == await resp.json()
    reacted = await react(client, bob, chat_id, sent["seq"], THUMBS)
    assert await everywhere("second") == reacted
    await conn.execute("UPDATE message SET body = 'moderated' WHERE id = $1", sent["id"])
    await conn.execute("UPDATE app_user SET username = 'alicia' WHERE id = $1", alice.id)
    shown = await everywhere("moderated")
    assert (shown["body"], shown["sender"]) == ("moderated", {"id": alice.id, "username": "alicia"})
    assert shown["reactions"] == reacted["reactions"]
    resp = await client.delete(path, headers=alice.headers)
    assert resp.status == 204
    tombstone = await everywhere("moderated")
    assert (tombstone["body"], tombstone["reactions"]) == (None, [])


async def test_who_may_delete(client, alice, bob, carol, group):
    direct = await new_chat(client, alice, ["bob"])
    by_bob = await send(client, bob, group["id"], "bob's")
    by_carol = await send(client, carol, group["id"], "carol's")
    in_direct = await send(client, bob, direct["id"], "bob to alice")
    # carol may not delete bob's; alice, the group's creator, may.
    path = f"/v1/chats/{group['id']}/messages/{by_bob['seq']}"
    assert await error_of(await client.delete(path, headers=carol.headers)) == (403, "forbidden")
    assert (await client.delete(path, headers=alice.headers)).status == 204
    # In a direct chat only the sender may; after unfriending, still the sender.
    path = f"/v1/chats/{direct['id']}/messages/{in_direct['seq']}"
    assert await error_of(await client.delete(path, headers=alice.headers)) == (403, "forbidden")
    assert (await client.delete(f"/v1/friends/{alice.id}", headers=bob.headers)).status == 204
    assert (await client.delete(path, headers=bob.headers)).status == 204
    # Someone outside the chat does not learn it exists.
    dave = await sign_up(client, "dave")
    path = f"/v1/chats/{group['id']}/messages/{by_carol['seq']}"
    assert await error_of(await client.delete(path, headers=dave.headers)) == (404, "not_found")
    assert (await get(client, carol, group["id"], by_carol["seq"]))["body"] == "carol's"


# Reactions


async def test_reactions_keep_the_order_of_first_use_and_of_reacting(client, alice, bob, group):
    await send(client, alice, group["id"], "party")
    chat_id = group["id"]
    await react(client, bob, chat_id, 1, THUMBS)
    await react(client, alice, chat_id, 1, HEART)
    message = await react(client, alice, chat_id, 1, THUMBS)
    assert message["reactions"] == [
        {"emoji": THUMBS, "user_ids": [bob.id, alice.id]},
        {"emoji": HEART, "user_ids": [alice.id]},
    ]
    # Reacting again is harmless.
    assert await react(client, alice, chat_id, 1, THUMBS) == message
    # bob takes his back and reacts again: he goes last.
    await react(client, bob, chat_id, 1, THUMBS, add=False)
    message = await react(client, bob, chat_id, 1, THUMBS)
    assert message["reactions"][0] == {"emoji": THUMBS, "user_ids": [alice.id, bob.id]}
    # The last heart goes: the emoji disappears, and comes back last.
    message = await react(client, alice, chat_id, 1, HEART, add=False)
    assert [r["emoji"] for r in message["reactions"]] == [THUMBS]
    await react(client, bob, chat_id, 1, SMILE)
    message = await react(client, bob, chat_id, 1, HEART)
    assert [r["emoji"] for r in message["reactions"]] == [THUMBS, SMILE, HEART]
    # Removing a reaction one never made is harmless.
    assert await react(client, alice, chat_id, 1, SMILE, add=False) == message
    assert (await get(client, alice, chat_id, 1))["reactions"] == message["reactions"]


async def test_a_reaction_takes_no_body_and_any_emoji_of_1_to_32_characters(
    client, alice, bob, direct
):
    await send(client, alice, direct["id"], "hi")
    path = reaction_path(direct["id"], 1, THUMBS)
    # No body and no Content-Type at all, or an empty object: both fine.
    resp = await client.put(path, headers=bob.headers, skip_auto_headers={"Content-Type"})
    assert resp.status == 200
    resp = await client.put(path, json={}, headers=alice.headers)
    assert resp.status == 200
    resp = await client.put(path, json={"emoji": THUMBS}, headers=alice.headers)
    assert await problem_fields(resp) == {"emoji"}
    # Emoji are not checked against a list, and compared exactly.
    for emoji in ("+1", "🏳️‍🌈", "a/b", "x" * 32, "❤"):
        assert (
            await client.put(reaction_path(direct["id"], 1, emoji), headers=bob.headers)
        ).status == 200
    message = await get(client, bob, direct["id"], 1)
    assert [r["emoji"] for r in message["reactions"]] == [THUMBS, "+1", "🏳️‍🌈", "a/b", "x" * 32, "❤"]
    # Invalid ones are a rule of the request alone: 422 even on a chat one is not in.
    carol = await sign_up(client, "carol")
    for raw in ("%20", "a%20b", "x" * 33, "%FF", "%00", "%E2%80%83"):
        for who in (bob, carol):
            resp = await client.put(
                f"/v1/chats/{direct['id']}/messages/1/reactions/{raw}", headers=who.headers
            )
            assert await problem_fields(resp) == {"emoji"}, raw


async def test_a_21st_distinct_emoji_is_refused(client, alice, bob, direct):
    await send(client, alice, direct["id"], "popular")
    emoji = [chr(0x1F600 + n) for n in range(21)]
    for e in emoji[:20]:
        await react(client, bob, direct["id"], 1, e)
    resp = await client.put(reaction_path(direct["id"], 1, emoji[20]), headers=alice.headers)
    assert await error_of(resp) == (422, "too_many_reactions")
    # One already there is always fine; once one goes, a new one fits.
    await react(client, alice, direct["id"], 1, emoji[0])
    await react(client, bob, direct["id"], 1, emoji[5], add=False)
    message = await react(client, alice, direct["id"], 1, emoji[20])
    assert [r["emoji"] for r in message["reactions"]] == [e for e in emoji if e != emoji[5]]


async def test_20_distinct_emoji_at_most_even_when_30_users_race(client, conn, alice):
    users = [await sign_up(client, f"racer{n}") for n in range(30)]
    resp = await client.post(
        "/v1/chats", json={"participants": [], "kind": "group"}, headers=alice.headers
    )
    chat_id = (await resp.json())["id"]
    await conn.execute(
        "INSERT INTO chat_participant (chat_sesh_id, user_id) SELECT $1, unnest($2::bigint[])",
        chat_id,
        [u.id for u in users],
    )
    await send(client, alice, chat_id, "vote")

    async def put(user, emoji):
        resp = await client.put(reaction_path(chat_id, 1, emoji), headers=user.headers)
        return resp.status, await resp.json()

    # 30 users, 30 different emoji, and every user also sends the first one twice.
    results = await asyncio.gather(
        *(put(u, chr(0x1F600 + n)) for n, u in enumerate(users)),
        *(put(u, THUMBS) for u in users),
        *(put(u, THUMBS) for u in users),
    )
    statuses = [status for status, _ in results]
    assert statuses.count(422) >= 10
    assert set(statuses) <= {200, 422}
    message = await get(client, alice, chat_id, 1)
    assert len(message["reactions"]) == 20
    thumbs = next((r for r in message["reactions"] if r["emoji"] == THUMBS), None)
    if thumbs is not None:  # once in, every user's thumb went in, once each
        assert sorted(thumbs["user_ids"]) == sorted(u.id for u in users)
    rows = await conn.fetchval(
        "SELECT count(*) FROM reaction r JOIN message m ON m.id = r.message_id"
        " WHERE m.chat_sesh_id = $1",
        chat_id,
    )
    assert rows == sum(len(r["user_ids"]) for r in message["reactions"])


async def test_the_database_holds_the_reaction_and_reply_rules(client, conn, alice, bob, direct):
    message = await send(client, alice, direct["id"], "hi")
    await react(client, bob, direct["id"], 1, THUMBS)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await conn.execute(
            "INSERT INTO reaction (message_id, emoji, user_id) VALUES ($1, $2, $3)",
            message["id"],
            THUMBS,
            bob.id,
        )
    assert caught.value.constraint_name == "reaction_pkey"
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await conn.execute(
            "INSERT INTO message_emoji (message_id, emoji, slot) VALUES ($1, 'x', 21)",
            message["id"],
        )
    assert caught.value.constraint_name == "message_emoji_slot_range"
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await conn.execute(
            "INSERT INTO message_emoji (message_id, emoji, slot) VALUES ($1, 'x', 1)",
            message["id"],
        )
    assert caught.value.constraint_name == "message_emoji_slot_key"
    other = await new_chat(client, alice, ["bob"], kind="group")
    await send(client, alice, other["id"], "elsewhere")
    with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
        await conn.execute(
            "INSERT INTO message (chat_sesh_id, seq, sender_id, body, reply_to)"
            " VALUES ($1, 5, $2, 'x', 3)",
            other["id"],
            alice.id,
        )
    assert caught.value.constraint_name == "message_reply_to_same_chat"
    with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
        await conn.execute(
            "INSERT INTO message (chat_sesh_id, seq, sender_id, body) VALUES ($1, 5, $2, 'x')",
            other["id"],
            alice.id + 1000,
        )
    assert caught.value.constraint_name == "message_sender_id_fkey"
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await conn.execute("UPDATE message SET body = NULL WHERE id = $1", message["id"])
    assert caught.value.constraint_name == "message_tombstone"


# Read receipts


async def test_read_markers_show_in_participants_and_move_only_forward(client, alice, bob, direct):
    for n in range(3):
        await send(client, alice, direct["id"], f"m{n}")
    path = f"/v1/chats/{direct['id']}"

    async def markers():
        resp = await client.get(f"{path}/participants", headers=bob.headers)
        return {p["user"]["username"]: p["last_read_seq"] for p in (await resp.json())["items"]}

    assert await markers() == {"alice": 3, "bob": 0}  # a sender has read their own
    for seq, expected in ((2, 2), (1, 2), (99, 3)):
        resp = await client.post(f"{path}/read", json={"seq": seq}, headers=bob.headers)
        assert resp.status == 204
        assert (await markers())["bob"] == expected


# Live events


async def test_changes_arrive_live_after_their_message_and_replay_in_order(
    client, alice, bob, direct
):
    stream = await connect(client, bob)
    created = await send(client, alice, direct["id"], "helo")
    first = await stream.expect("message.created")
    assert first["data"] == created
    resp = await client.patch(
        f"/v1/chats/{direct['id']}/messages/1", json={"body": "hello"}, headers=alice.headers
    )
    edited = (await stream.expect("message.updated"))["data"]
    assert edited == await resp.json()
    reacted = await react(client, bob, direct["id"], 1, THUMBS)
    assert (await stream.expect("message.updated"))["data"] == reacted
    await react(client, bob, direct["id"], 1, THUMBS)  # nothing changed: no event
    resp = await client.post(f"/v1/chats/{direct['id']}/read", json={"seq": 1}, headers=bob.headers)
    read = await stream.expect("chat.read")
    assert read["data"] == {"chat_id": direct["id"], "user_id": bob.id, "seq": 1}
    await client.post(f"/v1/chats/{direct['id']}/read", json={"seq": 1}, headers=bob.headers)
    assert (
        await client.delete(f"/v1/chats/{direct['id']}/messages/1", headers=alice.headers)
    ).status == 204
    tombstone = (await stream.expect("message.updated"))["data"]
    assert tombstone["body"] is None
    await client.delete(f"/v1/chats/{direct['id']}/messages/1", headers=alice.headers)
    await send(client, alice, direct["id"], "last")
    assert (await stream.expect("message.created"))["data"]["seq"] == 2  # nothing in between

    # A client resuming from before the send gets the same events, in the same order;
    # a message is shown as it is now.
    replay = await connect(client, bob, f"?since={first['id'] - 1}")
    types = await replay.types(6)
    assert types == [
        "message.created",
        "message.updated",
        "message.updated",
        "chat.read",
        "message.updated",
        "message.created",
    ]


# Typing


async def test_typing_reaches_the_others_live_only_and_is_never_replayed(
    client, alice, bob, carol, group
):
    bobs, carols, alices = [await connect(client, u) for u in (bob, carol, alice)]
    await send(client, bob, group["id"], "anyone?")
    for stream in (bobs, carols, alices):
        before = await stream.expect("message.created")
    path = f"/v1/chats/{group['id']}/typing"
    resp = await client.post(path, headers=alice.headers, skip_auto_headers={"Content-Type"})
    assert resp.status == 204
    for stream in (bobs, carols):
        notice = await stream.next()
        assert notice == {
            "type": "typing",
            "data": {"chat_id": group["id"], "user": {"id": alice.id, "username": "alice"}},
        }
    # Again within 2 seconds: dropped (still 204); the sender's own streams hear nothing.
    assert (await client.post(path, json={}, headers=alice.headers)).status == 204
    created = await send(client, alice, group["id"], "done typing")
    for stream in (bobs, carols, alices):
        assert (await stream.expect("message.created"))["data"] == created
    # A client resuming from before hears the message, not the notice.
    replay = await connect(client, bob, f"?since={before['id']}")
    assert (await replay.expect("message.created"))["data"] == created
    with pytest.raises(asyncio.TimeoutError):
        await replay.ws.receive(timeout=0.5)
    for stream in (bobs, carols, alices, replay):
        await stream.ws.close()


async def test_typing_needs_the_right_to_write(client, alice, bob, carol, direct):
    path = f"/v1/chats/{direct['id']}/typing"
    assert await error_of(await client.post(path, headers=carol.headers)) == (404, "not_found")
    resp = await client.post(path, json={"typing": True}, headers=carol.headers)
    assert await problem_fields(resp) == {"typing"}  # the body's rules come first
    assert (await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)).status == 204
    assert await error_of(await client.post(path, headers=alice.headers)) == (403, "not_friends")
    assert (await client.put("/v1/blocks/alice", headers=bob.headers)).status == 204
    assert await error_of(await client.post(path, headers=alice.headers)) == (403, "blocked")
