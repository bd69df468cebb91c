"""Messages: sending, history pages, sending to a user, read markers and unread counts."""

from __future__ import annotations

import pytest
from conftest import TIMESTAMP, befriend, error_of, new_chat, problem_fields, sign_up

MESSAGE_FIELDS = {
    "id", "chat_id", "seq", "sender", "body", "created_at", "client_id",
    "reply_to", "edited_at", "deleted_at", "reactions",
}  # fmt: skip


async def post_message(client, who, chat_id, body, **extra):
    return await client.post(
        f"/v1/chats/{chat_id}/messages", json={"body": body, **extra}, headers=who.headers
    )


async def send(client, who, chat_id, body, **extra):
    resp = await post_message(client, who, chat_id, body, **extra)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def page(client, who, chat_id, query=""):
    """(seqs, has_more) of a history page."""
    resp = await client.get(f"/v1/chats/{chat_id}/messages{query}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"items", "has_more"}
    return [m["seq"] for m in body["items"]], body["has_more"]


async def fill(conn, chat_id, sender_id, count):
    """count messages in a chat, written directly: the history tests read, not write."""
    await conn.execute(
        """
        WITH c AS (UPDATE chat_sesh SET last_seq = last_seq + $3 WHERE id = $1
                   RETURNING last_seq - $3 AS start)
        INSERT INTO message (chat_sesh_id, seq, sender_id, body)
        SELECT $1, c.start + g, $2, 'message ' || (c.start + g)
        FROM c, generate_series(1, $3::bigint) g
        """,
        chat_id,
        sender_id,
        count,
    )


async def chat_as(client, who, chat_id):
    resp = await client.get(f"/v1/chats/{chat_id}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


@pytest.fixture
async def direct(client, alice, bob):
    await befriend(client, alice, bob)
    return await new_chat(client, alice, ["bob"])


# Sending


async def test_a_message_has_exactly_the_documented_fields(client, alice, direct):
    resp = await post_message(client, alice, direct["id"], "hello")
    assert resp.status == 201
    message = await resp.json()
    assert set(message) == MESSAGE_FIELDS
    assert message["chat_id"] == direct["id"]
    assert message["seq"] == 1
    assert message["sender"] == {"id": alice.id, "username": "alice"}
    assert message["body"] == "hello"
    assert message["client_id"] is None
    assert TIMESTAMP.fullmatch(message["created_at"])
    assert (message["reply_to"], message["edited_at"], message["deleted_at"]) == (None, None, None)
    assert message["reactions"] == []


async def test_a_201_message_is_committed(client, conn, alice, bob, direct):
    message = await send(client, alice, direct["id"], "kept")
    row = await conn.fetchrow(
        "SELECT chat_sesh_id, seq, sender_id, body FROM message WHERE id = $1", message["id"]
    )
    assert dict(row) == {
        "chat_sesh_id": direct["id"],
        "seq": 1,
        "sender_id": alice.id,
        "body": "kept",
    }
    assert await conn.fetchval("SELECT last_seq FROM chat_sesh WHERE id = $1", direct["id"]) == 1


async def test_seq_counts_up_from_1_in_each_chat(client, alice, bob, carol, direct):
    await befriend(client, alice, carol)
    other = await new_chat(client, alice, ["carol"])
    seqs = [(await send(client, who, direct["id"], "x"))["seq"] for who in (alice, bob, alice)]
    assert seqs == [1, 2, 3]
    assert (await send(client, carol, other["id"], "y"))["seq"] == 1


@pytest.mark.parametrize(
    "body",
    ["", " ", "\t\n\r", "\u3000", "\u00a0\u2028\u2029", "\u1680\u2000\u200a\u202f\u205f\x85"],
    ids=repr,
)
async def test_an_empty_or_white_space_body_is_empty_body(client, conn, alice, direct, body):
    resp = await post_message(client, alice, direct["id"], body)
    assert "body" in await problem_fields(resp, "empty_body")
    assert await conn.fetchval("SELECT count(*) FROM message") == 0


@pytest.mark.parametrize("body", ["\u200b", "\x1c", ".", "\u3000x"], ids=repr)
async def test_characters_that_are_not_white_space_make_a_body(client, alice, direct, body):
    # U+200B (zero width space) and U+001C are not White_Space in Unicode.
    message = await send(client, alice, direct["id"], body)
    assert message["body"] == body


async def test_a_body_is_at_most_4000_characters(client, conn, alice, direct):
    resp = await post_message(client, alice, direct["id"], "x" * 4001)
    assert "body" in await problem_fields(resp, "body_too_long")
    message = await send(client, alice, direct["id"], "x" * 4000)
    assert len(message["body"]) == 4000


async def test_characters_are_code_points(client, conn, alice, direct):
    emoji = "\U0001f600" * 4000  # 16000 UTF-8 bytes, 8000 UTF-16 units, 4000 code points
    message = await send(client, alice, direct["id"], emoji)
    assert message["body"] == emoji
    stored = await conn.fetchval(
        "SELECT char_length(body) FROM message WHERE id = $1", message["id"]
    )
    assert stored == 4000
    resp = await post_message(client, alice, direct["id"], emoji + "\U0001f600")
    assert await error_of(resp) == (422, "body_too_long")


@pytest.mark.parametrize(
    "body",
    ["  padded  \n", "e\u0301", "\u00e9", "tab\there", "\U0001f469\u200d\U0001f4bb"],
    ids=repr,
)
async def test_a_body_is_stored_exactly_as_sent(client, conn, alice, bob, direct, body):
    message = await send(client, alice, direct["id"], body)
    assert message["body"] == body
    assert await conn.fetchval("SELECT body FROM message WHERE id = $1", message["id"]) == body
    resp = await client.get(f"/v1/chats/{direct['id']}/messages", headers=bob.headers)
    assert (await resp.json())["items"][0]["body"] == body


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"body": None},
        {"body": 42},
        {"body": ["hi"]},
        {"body": "hi", "sender": 1},
        {"body": "hi", "client_id": 7},
        {"body": "hi", "client_id": "c" * 65},
    ],
    ids=str,
)
async def test_malformed_send_bodies_are_validation_errors(client, alice, direct, payload):
    resp = await client.post(
        f"/v1/chats/{direct['id']}/messages", json=payload, headers=alice.headers
    )
    assert await error_of(resp) == (422, "validation_error")


async def test_a_bad_body_is_422_before_an_unknown_chat_is_404(client, alice):
    resp = await post_message(client, alice, 999999, "")
    assert await error_of(resp) == (422, "empty_body")


async def test_sending_to_a_chat_you_are_not_in_is_404(client, conn, carol, direct):
    resp = await post_message(client, carol, direct["id"], "let me in")
    assert await error_of(resp) == (404, "not_found")
    resp = await post_message(client, carol, 999999, "anyone?")
    assert await error_of(resp) == (404, "not_found")
    assert await conn.fetchval("SELECT count(*) FROM message") == 0


# client_id


async def test_a_retry_with_the_same_client_id_gets_the_first_message(client, conn, alice, direct):
    first = await post_message(client, alice, direct["id"], "once", client_id="c" * 64)
    assert first.status == 201
    message = await first.json()
    assert message["client_id"] == "c" * 64
    await send(client, alice, direct["id"], "in between")
    retry = await post_message(client, alice, direct["id"], "once", client_id="c" * 64)
    assert retry.status == 200
    assert await retry.json() == message
    assert await conn.fetchval("SELECT count(*) FROM message") == 2


async def test_the_same_client_id_with_another_body_is_a_conflict(client, conn, alice, direct):
    await send(client, alice, direct["id"], "first", client_id="k")
    resp = await post_message(client, alice, direct["id"], "second", client_id="k")
    assert await error_of(resp) == (409, "client_id_conflict")
    resp = await post_message(client, alice, direct["id"], "first ", client_id="k")
    assert await error_of(resp) == (409, "client_id_conflict")
    assert await conn.fetchval("SELECT count(*) FROM message") == 1


async def test_a_client_id_belongs_to_one_sender_in_one_chat(client, alice, bob, carol, direct):
    await befriend(client, alice, carol)
    other = await new_chat(client, alice, ["carol"])
    mine = await send(client, alice, direct["id"], "hi", client_id="k")
    theirs = await post_message(client, bob, direct["id"], "hi", client_id="k")
    assert theirs.status == 201
    assert (await theirs.json())["id"] != mine["id"]
    elsewhere = await post_message(client, alice, other["id"], "other body", client_id="k")
    assert elsewhere.status == 201
    assert (await elsewhere.json())["chat_id"] == other["id"]


async def test_messages_without_client_id_are_never_deduplicated(client, conn, alice, direct):
    for _ in range(3):
        await send(client, alice, direct["id"], "same")
    assert await conn.fetchval("SELECT count(*) FROM message") == 3


async def test_the_database_keeps_one_message_per_client_id(client, conn, alice, direct):
    message = await send(client, alice, direct["id"], "hi", client_id="k")
    import asyncpg

    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await conn.execute(
            """
            INSERT INTO message (chat_sesh_id, seq, sender_id, body, client_id, sent_digest)
            VALUES ($1, 99, $2, 'hi', 'k', sent_digest('hi', NULL))
            """,
            direct["id"],
            alice.id,
        )
    assert caught.value.constraint_name == "message_client_id_once"
    assert message["seq"] == 1


# History


async def test_history_is_the_latest_messages_oldest_first(client, conn, alice, bob, direct):
    first = await send(client, alice, direct["id"], "one")
    second = await send(client, bob, direct["id"], "two")
    resp = await client.get(f"/v1/chats/{direct['id']}/messages", headers=bob.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body == {"items": [first, second], "has_more": False}


async def test_history_pages_default_to_50(client, conn, alice, direct):
    await fill(conn, direct["id"], alice.id, 120)
    assert await page(client, alice, direct["id"]) == (list(range(71, 121)), True)
    assert await page(client, alice, direct["id"], "?before=71") == (list(range(21, 71)), True)
    assert await page(client, alice, direct["id"], "?before=21") == (list(range(1, 21)), False)


async def test_limit_is_1_to_200(client, conn, alice, direct):
    await fill(conn, direct["id"], alice.id, 250)
    assert await page(client, alice, direct["id"], "?limit=1") == ([250], True)
    assert await page(client, alice, direct["id"], "?limit=200") == (list(range(51, 251)), True)
    for bad in ("0", "201", "-1", "abc", "1.5", ""):
        resp = await client.get(
            f"/v1/chats/{direct['id']}/messages?limit={bad}", headers=alice.headers
        )
        assert await error_of(resp) == (422, "validation_error"), bad


async def test_before_and_after_walk_the_history(client, conn, alice, direct):
    await fill(conn, direct["id"], alice.id, 10)
    chat = direct["id"]
    assert await page(client, alice, chat, "?before=6&limit=3") == ([3, 4, 5], True)
    assert await page(client, alice, chat, "?before=4&limit=3") == ([1, 2, 3], False)
    assert await page(client, alice, chat, "?before=1") == ([], False)
    assert await page(client, alice, chat, "?before=0") == ([], False)
    assert await page(client, alice, chat, "?after=0&limit=3") == ([1, 2, 3], True)
    assert await page(client, alice, chat, "?after=3&limit=3") == ([4, 5, 6], True)
    assert await page(client, alice, chat, "?after=7&limit=3") == ([8, 9, 10], False)
    assert await page(client, alice, chat, "?after=10") == ([], False)
    assert await page(client, alice, chat, "?after=0") == (list(range(1, 11)), False)


async def test_bounds_past_the_last_seq_are_simply_bounds(client, conn, alice, direct):
    await fill(conn, direct["id"], alice.id, 5)
    chat = direct["id"]
    assert await page(client, alice, chat, "?before=1000") == ([1, 2, 3, 4, 5], False)
    assert await page(client, alice, chat, "?before=1000&limit=2") == ([4, 5], True)
    assert await page(client, alice, chat, "?after=1000") == ([], False)
    assert await page(client, alice, chat, f"?before={2**63 - 1}") == ([1, 2, 3, 4, 5], False)


@pytest.mark.parametrize(
    "query",
    [
        "?before=3&after=1",
        "?before=-1",
        "?after=-1",
        "?before=abc",
        "?after=1e3",
        f"?before={2**63}",
        f"?after={10**30}",
    ],
)
async def test_bad_history_queries_are_422(client, alice, direct, query):
    resp = await client.get(f"/v1/chats/{direct['id']}/messages{query}", headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")
    assert (await resp.json())["error"]["details"]


async def test_history_of_an_empty_chat_is_empty(client, alice, direct):
    assert await page(client, alice, direct["id"]) == ([], False)


async def test_history_of_a_chat_you_are_not_in_is_404(client, carol, direct):
    resp = await client.get(f"/v1/chats/{direct['id']}/messages", headers=carol.headers)
    assert await error_of(resp) == (404, "not_found")


# Sending to a user


async def test_sending_to_a_friend_creates_the_direct_chat(client, conn, alice, bob):
    await befriend(client, alice, bob)
    resp = await client.post("/v1/users/bob/messages", json={"body": "hi"}, headers=alice.headers)
    assert resp.status == 201
    message = await resp.json()
    assert set(message) == MESSAGE_FIELDS
    assert message["seq"] == 1
    chat = await chat_as(client, bob, message["chat_id"])
    assert chat["kind"] == "direct"
    assert chat["created_by"] == alice.id
    assert chat["last_message"] == message
    assert chat["unread_count"] == 1
    resp = await client.post(
        f"/v1/users/{alice.id}/messages", json={"body": "hey"}, headers=bob.headers
    )
    assert resp.status == 201
    reply = await resp.json()
    assert (reply["chat_id"], reply["seq"]) == (message["chat_id"], 2)
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    assert resp.status == 200
    assert (await resp.json())["id"] == message["chat_id"]
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == 1


async def test_sending_to_a_user_by_name_ignores_case(client, alice, bob):
    await befriend(client, alice, bob)
    resp = await client.post("/v1/users/BoB/messages", json={"body": "hi"}, headers=alice.headers)
    assert resp.status == 201


async def test_sending_to_a_user_is_safe_to_retry(client, conn, alice, bob):
    await befriend(client, alice, bob)
    body = {"body": "hi", "client_id": "k"}
    first = await client.post("/v1/users/bob/messages", json=body, headers=alice.headers)
    assert first.status == 201
    retry = await client.post("/v1/users/bob/messages", json=body, headers=alice.headers)
    assert retry.status == 200
    assert await retry.json() == await first.json()
    clash = await client.post(
        "/v1/users/bob/messages", json={"body": "bye", "client_id": "k"}, headers=alice.headers
    )
    assert await error_of(clash) == (409, "client_id_conflict")
    assert await conn.fetchval("SELECT count(*) FROM message") == 1


async def test_sending_to_a_stranger_is_not_friends(client, conn, alice, bob):
    resp = await client.post("/v1/users/bob/messages", json={"body": "hi"}, headers=alice.headers)
    assert await error_of(resp) == (403, "not_friends")
    details = (await resp.json())["error"]["details"]
    assert [(d["field"], d["value"]) for d in details] == [("user", "bob")]
    resp = await client.post("/v1/users/alice/messages", json={"body": "me"}, headers=alice.headers)
    assert await error_of(resp) == (403, "not_friends")
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == 0


@pytest.mark.parametrize("user", ["nobody", "999999", "0", "not%20a%20name"])
async def test_sending_to_an_unknown_user_is_404(client, alice, user):
    resp = await client.post(
        f"/v1/users/{user}/messages", json={"body": "hi"}, headers=alice.headers
    )
    assert await error_of(resp) == (404, "user_not_found")


async def test_sending_to_a_user_checks_the_body_first(client, alice):
    resp = await client.post("/v1/users/nobody/messages", json={"body": " "}, headers=alice.headers)
    assert await error_of(resp) == (422, "empty_body")
    resp = await client.post(
        "/v1/users/nobody/messages", json={"body": "x" * 4001}, headers=alice.headers
    )
    assert await error_of(resp) == (422, "body_too_long")


# Friendship and direct chats


async def test_a_direct_chat_needs_the_two_to_still_be_friends(client, conn, alice, bob, direct):
    await send(client, alice, direct["id"], "while friends")
    resp = await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)
    assert resp.status == 204
    for who, other in [(alice, "bob"), (bob, "alice")]:
        resp = await post_message(client, who, direct["id"], "still there?")
        assert await error_of(resp) == (403, "not_friends")
        details = (await resp.json())["error"]["details"]
        assert [(d["field"], d["value"]) for d in details] == [("chat", other)]
    resp = await client.post("/v1/users/bob/messages", json={"body": "x"}, headers=alice.headers)
    assert await error_of(resp) == (403, "not_friends")
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    assert await error_of(resp) == (403, "not_friends")
    # The history stays readable, and friends again may write again.
    assert await page(client, bob, direct["id"]) == ([1], False)
    await befriend(client, bob, alice)
    assert (await send(client, bob, direct["id"], "back"))["seq"] == 2
    assert await conn.fetchval("SELECT count(*) FROM message") == 2


async def test_in_a_group_being_a_participant_is_enough(client, alice, bob, carol):
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    group = await new_chat(client, alice, ["bob", "carol"], name="g")
    # bob and carol were never friends; alice and bob stop being friends.
    assert (await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)).status == 204
    assert (await send(client, bob, group["id"], "from bob"))["seq"] == 1
    assert (await send(client, carol, group["id"], "from carol"))["seq"] == 2
    assert (await send(client, alice, group["id"], "from alice"))["seq"] == 3


# Read markers and unread counts


async def mark_read(client, who, chat_id, seq):
    return await client.post(f"/v1/chats/{chat_id}/read", json={"seq": seq}, headers=who.headers)


async def test_unread_count_counts_messages_from_others_after_the_marker(
    client, alice, bob, direct
):
    chat = direct["id"]
    for i in range(3):
        await send(client, bob, chat, f"b{i}")
    await send(client, alice, chat, "mine")
    assert (await chat_as(client, alice, chat))["unread_count"] == 3
    assert (await chat_as(client, bob, chat))["unread_count"] == 1
    resp = await mark_read(client, alice, chat, 2)
    assert resp.status == 204
    assert await resp.read() == b""
    assert (await chat_as(client, alice, chat))["unread_count"] == 1
    assert (await mark_read(client, alice, chat, 4)).status == 204
    assert (await chat_as(client, alice, chat))["unread_count"] == 0
    await send(client, alice, chat, "mine again")
    assert (await chat_as(client, alice, chat))["unread_count"] == 0
    await send(client, bob, chat, "new")
    assert (await chat_as(client, alice, chat))["unread_count"] == 1


async def test_the_read_marker_only_moves_forward(client, conn, alice, bob, direct):
    chat = direct["id"]
    for _ in range(4):
        await send(client, bob, chat, "x")
    assert (await mark_read(client, alice, chat, 3)).status == 204
    assert (await mark_read(client, alice, chat, 1)).status == 204
    assert (await mark_read(client, alice, chat, 0)).status == 204
    assert (await chat_as(client, alice, chat))["unread_count"] == 1
    marker = await conn.fetchval(
        "SELECT last_read_seq FROM chat_participant WHERE chat_sesh_id = $1 AND user_id = $2",
        chat,
        alice.id,
    )
    assert marker == 3


async def test_a_marker_past_the_last_message_is_set_to_the_last_message(
    client, alice, bob, direct
):
    chat = direct["id"]
    await send(client, bob, chat, "one")
    await send(client, bob, chat, "two")
    assert (await mark_read(client, alice, chat, 1000)).status == 204
    assert (await chat_as(client, alice, chat))["unread_count"] == 0
    await send(client, bob, chat, "three")
    await send(client, bob, chat, "four")
    # Had the marker stayed at 1000, these would not count.
    assert (await chat_as(client, alice, chat))["unread_count"] == 2
    assert (await mark_read(client, alice, chat, 2**63 - 1)).status == 204
    assert (await chat_as(client, alice, chat))["unread_count"] == 0


async def test_marking_an_empty_chat_read_keeps_new_messages_unread(client, alice, bob, direct):
    assert (await mark_read(client, alice, direct["id"], 5)).status == 204
    await send(client, bob, direct["id"], "first")
    assert (await chat_as(client, alice, direct["id"]))["unread_count"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"seq": -1},
        {"seq": "3"},
        {"seq": 1.5},
        {"seq": True},
        {"seq": 2**63},
        {"seq": 1, "x": 1},
    ],
    ids=str,
)
async def test_a_bad_read_body_is_422(client, alice, direct, payload):
    resp = await client.post(f"/v1/chats/{direct['id']}/read", json=payload, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")


async def test_marking_a_chat_you_are_not_in_is_404(client, carol, direct):
    resp = await mark_read(client, carol, direct["id"], 1)
    assert await error_of(resp) == (404, "not_found")


async def test_read_markers_are_per_participant(client, alice, bob, carol):
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    group = await new_chat(client, alice, ["bob", "carol"], name="g")
    for _ in range(3):
        await send(client, alice, group["id"], "x")
    assert (await mark_read(client, bob, group["id"], 3)).status == 204
    assert (await chat_as(client, bob, group["id"]))["unread_count"] == 0
    assert (await chat_as(client, carol, group["id"]))["unread_count"] == 3


async def test_messages_need_a_token(client):
    for method, path in [
        ("GET", "/v1/chats/1/messages"),
        ("POST", "/v1/chats/1/messages"),
        ("POST", "/v1/chats/1/read"),
        ("POST", "/v1/users/bob/messages"),
    ]:
        resp = await client.request(method, path, json={"body": "x"})
        assert await error_of(resp) == (401, "unauthorized"), (method, path)


async def test_a_new_user_sees_nothing(client, alice, bob, direct):
    await send(client, alice, direct["id"], "private")
    eve = await sign_up(client, "eve")
    resp = await client.get("/v1/chats", headers=eve.headers)
    assert (await resp.json())["items"] == []


async def test_before_and_after_together_name_both_fields(client, alice, bob):
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    resp = await client.get(
        f"/v1/chats/{chat['id']}/messages?before=5&after=1", headers=alice.headers
    )
    assert resp.status == 422
    assert [d["field"] for d in (await resp.json())["error"]["details"]] == ["before", "after"]


async def test_sending_keeps_a_caught_up_marker_caught_up_and_skips_nothing(
    client, alice, bob, conn
):
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    await send(client, bob, chat["id"], "one")
    await send(client, bob, chat["id"], "two")
    # Alice has not read bob's two: her own message does not mark them read.
    await send(client, alice, chat["id"], "three")
    assert (await chat_as(client, alice, chat["id"]))["unread_count"] == 2
    # Once she has read up to there, her next message keeps her marker at the end...
    await client.post(f"/v1/chats/{chat['id']}/read", json={"seq": 3}, headers=alice.headers)
    await send(client, alice, chat["id"], "four")
    marker = await conn.fetchval(
        "SELECT last_read_seq FROM chat_participant WHERE chat_sesh_id = $1 AND user_id = $2",
        chat["id"],
        alice.id,
    )
    assert marker == 4
    # ...and bob's next one is her only unread message.
    await send(client, bob, chat["id"], "five")
    assert (await chat_as(client, alice, chat["id"]))["unread_count"] == 1
