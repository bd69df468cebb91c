"""Chats: GET/POST /v1/chats, GET/PATCH /v1/chats/{id}."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import TIMESTAMP, befriend, error_of, new_chat, problem_fields, sign_up

from chaat.app import create_app

CHAT_FIELDS = {
    "id",
    "kind",
    "name",
    "created_by",
    "created_at",
    "participants",
    "last_message",
    "unread_count",
}
MESSAGE_FIELDS = {
    "id", "chat_id", "seq", "sender", "body", "created_at", "client_id",
    "reply_to", "edited_at", "deleted_at", "reactions",
}  # fmt: skip


async def post_chat(client, who, **body):
    return await client.post("/v1/chats", json=body, headers=who.headers)


async def send(client, who, chat_id, body, **extra):
    resp = await client.post(
        f"/v1/chats/{chat_id}/messages", json={"body": body, **extra}, headers=who.headers
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def list_chats(client, who, query=""):
    resp = await client.get(f"/v1/chats{query}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"items"}
    return body["items"]


def ids(chats):
    return [c["id"] for c in chats]


@pytest.fixture
async def friends(client, alice, bob, carol):
    """alice is friends with bob and carol; bob and carol are strangers."""
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    return alice, bob, carol


# Creating chats


async def test_a_chat_has_exactly_the_documented_fields(client, friends):
    alice, _, _ = friends
    resp = await post_chat(client, alice, participants=["bob"])
    assert resp.status == 201
    chat = await resp.json()
    assert set(chat) == CHAT_FIELDS
    assert chat["kind"] == "direct"
    assert chat["name"] is None
    assert chat["created_by"] == alice.id
    assert TIMESTAMP.fullmatch(chat["created_at"])
    assert [u["username"] for u in chat["participants"]] == ["alice", "bob"]
    assert all(
        set(u) == {"id", "username", "display_name", "created_at"} for u in chat["participants"]
    )
    assert chat["last_message"] is None
    assert chat["unread_count"] == 0


async def test_a_201_chat_is_committed(client, conn, friends):
    alice, bob, carol = friends
    chat = await new_chat(client, alice, ["bob", "carol"], name="trio")
    row = await conn.fetchrow(
        "SELECT kind, name, created_by FROM chat_sesh WHERE id = $1", chat["id"]
    )
    assert dict(row) == {"kind": "group", "name": "trio", "created_by": alice.id}
    members = await conn.fetch(
        "SELECT user_id FROM chat_participant WHERE chat_sesh_id = $1 ORDER BY user_id", chat["id"]
    )
    assert [r["user_id"] for r in members] == sorted([alice.id, bob.id, carol.id])


async def test_a_direct_chat_is_get_or_create_in_either_order(client, conn, friends):
    alice, bob, _ = friends
    first = await post_chat(client, alice, participants=["bob"])
    assert first.status == 201
    chat = await first.json()
    again = await post_chat(client, alice, participants=[bob.id])
    assert again.status == 200
    assert (await again.json())["id"] == chat["id"]
    other_way = await post_chat(client, bob, participants=["alice"])
    assert other_way.status == 200
    theirs = await other_way.json()
    assert theirs["id"] == chat["id"]
    assert theirs["created_by"] == alice.id
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == 1


async def test_explicit_direct_kind_gets_the_same_chat(client, friends):
    alice, _, _ = friends
    chat = await new_chat(client, alice, ["bob"])
    resp = await post_chat(client, alice, participants=["bob"], kind="direct")
    assert resp.status == 200
    assert (await resp.json())["id"] == chat["id"]


async def test_kind_defaults_to_group_with_a_name_or_several_others(client, friends):
    alice, _, _ = friends
    named = await new_chat(client, alice, ["bob"], name="just us")
    assert named["kind"] == "group"
    assert named["name"] == "just us"
    # A named chat with one friend is a new group each time, not get-or-create.
    again = await post_chat(client, alice, participants=["bob"], name="just us")
    assert again.status == 201
    assert (await again.json())["id"] != named["id"]
    trio = await new_chat(client, alice, ["bob", "carol"], name="trio")
    assert trio["kind"] == "group"
    assert len(trio["participants"]) == 3


async def test_a_group_needs_no_name(client, friends):
    alice, bob, carol = friends
    # Several others and no name: a group, named null (clients show its members).
    resp = await post_chat(client, alice, participants=["bob", "carol"])
    assert resp.status == 201
    trio = await resp.json()
    assert (trio["kind"], trio["name"]) == ("group", None)
    assert [u["username"] for u in trio["participants"]] == ["alice", "bob", "carol"]
    # One other and kind group: a nameless group of two, not the direct chat.
    resp = await post_chat(client, alice, participants=["bob"], kind="group")
    assert resp.status == 201
    pair = await resp.json()
    assert (pair["kind"], pair["name"]) == ("group", None)
    # Each is a chat of its own, listed and readable like any other.
    resp = await client.get(f"/v1/chats/{trio['id']}", headers=carol.headers)
    assert (await resp.json())["name"] is None
    resp = await client.get("/v1/chats", headers=bob.headers)
    assert sorted(c["id"] for c in (await resp.json())["items"]) == sorted([trio["id"], pair["id"]])


async def test_no_one_but_yourself_makes_a_nameless_group_of_one(client, alice):
    resp = await post_chat(client, alice, participants=["alice"])
    assert resp.status == 201
    chat = await resp.json()
    assert (chat["kind"], chat["name"]) == ("group", None)
    assert [u["username"] for u in chat["participants"]] == ["alice"]


async def test_a_nameless_group_is_announced_with_a_null_name(client, friends):
    alice, bob, _ = friends
    ws = await client.ws_connect("/v1/events", headers=bob.headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    chat = await new_chat(client, alice, ["bob", "carol"])
    event = await ws.receive_json(timeout=5)
    assert event["type"] == "chat.created"
    assert (event["data"]["id"], event["data"]["name"]) == (chat["id"], None)
    await ws.close()


async def test_a_direct_chat_with_a_name_is_refused(client, friends):
    alice, _, _ = friends
    resp = await post_chat(client, alice, participants=["bob"], kind="direct", name="x")
    assert await error_of(resp) == (422, "validation_error")
    # A body rule: answered before looking the participants up.
    resp = await post_chat(client, alice, participants=["nobody"], kind="direct", name="x")
    assert await error_of(resp) == (422, "validation_error")


@pytest.mark.parametrize(
    "participants", [["bob", "carol"], [], ["alice"], ["alice", "ALICE"]], ids=str
)
async def test_a_direct_chat_needs_exactly_one_other(client, friends, participants):
    alice, _, _ = friends
    resp = await post_chat(client, alice, participants=participants, kind="direct")
    assert "participants" in await problem_fields(resp)


async def test_listing_yourself_or_someone_twice_is_harmless(client, friends):
    alice, bob, _ = friends
    resp = await post_chat(
        client, alice, participants=["alice", "bob", "BOB", bob.id, str(bob.id), alice.id]
    )
    assert resp.status == 201
    chat = await resp.json()
    assert chat["kind"] == "direct"
    assert sorted(u["id"] for u in chat["participants"]) == sorted([alice.id, bob.id])
    group = await new_chat(client, alice, ["bob", "carol", "Carol", "alice"], name="g")
    assert len(group["participants"]) == 3


async def test_the_creator_is_always_a_participant(client, friends):
    alice, _, _ = friends
    group = await new_chat(client, alice, ["bob", "carol"], name="no alice listed")
    assert "alice" in [u["username"] for u in group["participants"]]
    alone = await new_chat(client, alice, [], name="notes to self")
    assert [u["username"] for u in alone["participants"]] == ["alice"]


@pytest.mark.parametrize("name", ["", "x" * 65])
async def test_a_group_name_is_1_to_64_characters(client, friends, name):
    alice, _, _ = friends
    resp = await post_chat(client, alice, participants=["bob", "carol"], name=name)
    assert "name" in await problem_fields(resp)


async def test_a_group_name_is_stored_exactly_as_sent(client, friends):
    alice, _, _ = friends
    name = "  Caf\u0065\u0301 \U0001f600" + "y" * 55  # 64 code points, decomposed é kept
    assert len(name) == 64
    chat = await new_chat(client, alice, ["bob", "carol"], name=name)
    assert chat["name"] == name


@pytest.mark.parametrize(
    "body",
    [
        {"participants": "bob"},
        {"participants": ["bob"], "kind": "channel"},
        {"participants": ["bob"], "colour": "red"},
        {"participants": [0]},
        {"participants": [True]},
        {"name": "no participants"},
    ],
    ids=str,
)
async def test_malformed_create_bodies_are_refused(client, friends, body):
    alice, _, _ = friends
    resp = await client.post("/v1/chats", json=body, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")


async def test_every_other_participant_must_be_a_friend(client, conn, friends):
    _, bob, _ = friends
    await sign_up(client, "dave")
    await sign_up(client, "erin")
    resp = await post_chat(client, bob, participants=["alice", "carol", "dave", "erin"], name="g")
    assert await error_of(resp) == (403, "not_friends")
    details = (await resp.json())["error"]["details"]
    assert {(d["field"], d["value"]) for d in details} == {
        ("participants", "carol"),
        ("participants", "dave"),
        ("participants", "erin"),
    }
    resp = await post_chat(client, bob, participants=["carol"])
    assert await error_of(resp) == (403, "not_friends")
    assert (await resp.json())["error"]["details"][0]["value"] == "carol"
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == 0


async def test_not_friends_names_users_as_registered(client, alice):
    await sign_up(client, "Dave")
    resp = await post_chat(client, alice, participants=["DAVE"])
    assert await error_of(resp) == (403, "not_friends")
    assert (await resp.json())["error"]["details"][0]["value"] == "Dave"


async def test_an_unknown_user_is_404_before_not_friends(client, friends):
    alice, _, _ = friends
    await sign_up(client, "dave")
    for unknown in ["nobody", 999999, "999999", "not a name!", 2**70]:
        resp = await post_chat(client, alice, participants=["dave", unknown, "bob"], name="g")
        assert await error_of(resp) == (404, "user_not_found"), unknown


async def test_at_most_100_participants_by_default(client, conn, alice):
    # 100 friends of alice, made directly: what is tested is the chat's limit.
    await conn.execute(
        """
        INSERT INTO app_user (username, display_name, password_hash)
        SELECT 'friend' || g, 'friend' || g, 'x' FROM generate_series(1, 100) g
        """
    )
    await conn.execute(
        """
        INSERT INTO friendship (user_low, user_high)
        SELECT $1, id FROM app_user WHERE id <> $1
        """,
        alice.id,
    )
    names = [f"friend{i}" for i in range(1, 101)]
    resp = await post_chat(client, alice, participants=names, name="too big")
    assert await error_of(resp) == (422, "too_many_participants")
    assert (await resp.json())["error"]["details"]
    resp = await post_chat(client, alice, participants=names[:99], name="just fits")
    assert resp.status == 201
    assert len((await resp.json())["participants"]) == 100


async def test_the_participant_limit_is_configurable(aiohttp_client, settings):
    client = await aiohttp_client(create_app(replace(settings, max_group_size=3)))
    alice = await sign_up(client, "alice")
    others = [await sign_up(client, name) for name in ("bob", "carol", "dave")]
    for other in others:
        await befriend(client, alice, other)
    resp = await post_chat(client, alice, participants=["bob", "carol", "dave"], name="g")
    assert await error_of(resp) == (422, "too_many_participants")
    resp = await post_chat(client, alice, participants=["bob", "carol", "bob"], name="g")
    assert resp.status == 201


async def test_not_friends_comes_before_too_many_participants(aiohttp_client, settings):
    client = await aiohttp_client(create_app(replace(settings, max_group_size=2)))
    alice = await sign_up(client, "alice")
    await sign_up(client, "bob")
    await sign_up(client, "carol")
    resp = await post_chat(client, alice, participants=["bob", "carol"], name="g")
    assert await error_of(resp) == (403, "not_friends")


# The first message


async def test_a_new_chat_can_start_with_a_message(client, conn, friends):
    alice, bob, _ = friends
    resp = await post_chat(client, alice, participants=["bob"], message="hi bob")
    assert resp.status == 201
    chat = await resp.json()
    message = chat["last_message"]
    assert set(message) == MESSAGE_FIELDS
    assert message["seq"] == 1
    assert message["body"] == "hi bob"
    assert message["sender"] == {"id": alice.id, "username": "alice"}
    assert chat["unread_count"] == 0  # your own messages are never unread
    stored = await conn.fetchval("SELECT body FROM message WHERE chat_sesh_id = $1", chat["id"])
    assert stored == "hi bob"
    (theirs,) = await list_chats(client, bob)
    assert theirs["unread_count"] == 1
    assert theirs["last_message"]["id"] == message["id"]


async def test_a_group_can_start_with_a_message(client, friends):
    alice, _, carol = friends
    chat = await new_chat(client, alice, ["bob", "carol"], name="g", message="welcome")
    assert chat["last_message"]["body"] == "welcome"
    (theirs,) = await list_chats(client, carol)
    assert theirs["unread_count"] == 1


async def test_a_message_to_an_existing_direct_chat_is_its_newest(client, friends):
    alice, bob, _ = friends
    chat = await new_chat(client, alice, ["bob"])
    await send(client, bob, chat["id"], "one")
    await send(client, alice, chat["id"], "two")
    resp = await post_chat(client, alice, participants=["bob"], message="three")
    assert resp.status == 200
    again = await resp.json()
    assert again["id"] == chat["id"]
    assert again["last_message"]["seq"] == 3
    assert again["last_message"]["body"] == "three"
    history = await client.get(f"/v1/chats/{chat['id']}/messages", headers=bob.headers)
    assert [m["body"] for m in (await history.json())["items"]] == ["one", "two", "three"]


async def test_the_first_message_is_safe_to_retry_with_a_client_id(client, conn, friends):
    alice, _, _ = friends
    first = await post_chat(client, alice, participants=["bob"], message="hi", client_id="c-1")
    assert first.status == 201
    message = (await first.json())["last_message"]
    assert message["client_id"] == "c-1"
    retry = await post_chat(client, alice, participants=["bob"], message="hi", client_id="c-1")
    assert retry.status == 200
    assert (await retry.json())["last_message"] == message
    assert await conn.fetchval("SELECT count(*) FROM message") == 1
    clash = await post_chat(client, alice, participants=["bob"], message="bye", client_id="c-1")
    assert await error_of(clash) == (409, "client_id_conflict")
    assert await conn.fetchval("SELECT count(*) FROM message") == 1


async def test_the_first_message_follows_the_body_rules(client, conn, friends):
    alice, _, _ = friends
    resp = await post_chat(client, alice, participants=["bob"], message=" \u3000")
    assert await error_of(resp) == (422, "empty_body")
    resp = await post_chat(client, alice, participants=["bob"], message="x" * 4001)
    assert await error_of(resp) == (422, "body_too_long")
    resp = await post_chat(client, alice, participants=["bob"], message="x", client_id="c" * 65)
    assert await error_of(resp) == (422, "validation_error")
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == 0


# Listing chats


async def test_chats_are_listed_by_most_recent_activity(client, friends):
    alice, bob, carol = friends
    direct_bob = await new_chat(client, alice, ["bob"])
    direct_carol = await new_chat(client, alice, ["carol"])
    group = await new_chat(client, alice, ["bob", "carol"], name="g")
    assert ids(await list_chats(client, alice)) == [
        group["id"],
        direct_carol["id"],
        direct_bob["id"],
    ]
    await send(client, bob, direct_bob["id"], "bump")
    assert ids(await list_chats(client, alice)) == [
        direct_bob["id"],
        group["id"],
        direct_carol["id"],
    ]
    await send(client, carol, direct_carol["id"], "bump")
    assert ids(await list_chats(client, alice)) == [
        direct_carol["id"],
        direct_bob["id"],
        group["id"],
    ]
    assert ids(await list_chats(client, bob)) == [direct_bob["id"], group["id"]]


async def test_the_list_shows_participants_last_message_and_unread_count(client, friends):
    alice, bob, _ = friends
    chat = await new_chat(client, alice, ["bob"])
    await send(client, bob, chat["id"], "one")
    last = await send(client, bob, chat["id"], "two")
    await send(client, alice, chat["id"], "mine")
    (mine,) = await list_chats(client, alice)
    assert set(mine) == CHAT_FIELDS
    assert mine["unread_count"] == 2
    assert mine["last_message"]["body"] == "mine"
    assert [u["username"] for u in mine["participants"]] == ["alice", "bob"]
    (theirs,) = await list_chats(client, bob)
    assert theirs["unread_count"] == 1
    assert theirs["last_message"] == mine["last_message"]
    assert last["seq"] == 2


async def test_the_list_is_only_the_callers_chats(client, friends):
    alice, _, carol = friends
    await new_chat(client, alice, ["bob"], message="private")
    assert await list_chats(client, carol) == []
    dave = await sign_up(client, "dave")
    assert await list_chats(client, dave) == []
    assert await list_chats(client, carol, "?with=bob") == []
    assert await list_chats(client, carol, "?with=alice") == []


async def test_with_keeps_the_chats_that_include_that_user(client, friends):
    alice, _, carol = friends
    direct_bob = await new_chat(client, alice, ["bob"])
    direct_carol = await new_chat(client, alice, ["carol"])
    group = await new_chat(client, alice, ["bob", "carol"], name="g")
    assert ids(await list_chats(client, alice, "?with=bob")) == [group["id"], direct_bob["id"]]
    assert ids(await list_chats(client, alice, "?with=BOB")) == [group["id"], direct_bob["id"]]
    assert ids(await list_chats(client, alice, f"?with={carol.id}")) == [
        group["id"],
        direct_carol["id"],
    ]
    dave = await sign_up(client, "dave")
    assert await list_chats(client, alice, f"?with={dave.id}") == []


@pytest.mark.parametrize("who", ["nobody", "999999", "", "not a name!"])
async def test_with_an_unknown_user_is_404(client, alice, who):
    resp = await client.get("/v1/chats", params={"with": who}, headers=alice.headers)
    assert await error_of(resp) == (404, "user_not_found")


async def test_listing_every_chat_is_for_administrators(client, friends):
    alice, _, _ = friends
    mine = await new_chat(client, alice, ["bob"])
    resp = await client.get("/v1/chats?all=true", headers=alice.headers)
    assert await error_of(resp) == (403, "forbidden")
    assert ids(await list_chats(client, alice, "?all=false")) == [mine["id"]]
    resp = await client.get("/v1/chats?all=maybe", headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")


async def test_an_unknown_with_user_is_404_before_forbidden(client, alice):
    resp = await client.get("/v1/chats?all=true&with=nobody", headers=alice.headers)
    assert await error_of(resp) == (404, "user_not_found")


async def test_chats_need_a_token(client):
    for method, path in [
        ("GET", "/v1/chats"),
        ("POST", "/v1/chats"),
        ("GET", "/v1/chats/1"),
        ("PATCH", "/v1/chats/1"),
    ]:
        resp = await client.request(method, path, json={})
        assert await error_of(resp) == (401, "unauthorized"), (method, path)


# One chat


async def test_a_participant_reads_a_chat(client, friends):
    alice, bob, _ = friends
    chat = await new_chat(client, alice, ["bob"], message="hello")
    resp = await client.get(f"/v1/chats/{chat['id']}", headers=bob.headers)
    assert resp.status == 200
    theirs = await resp.json()
    assert theirs["id"] == chat["id"]
    assert theirs["last_message"]["body"] == "hello"
    assert theirs["unread_count"] == 1


async def test_a_chat_you_are_not_in_is_404_like_one_that_does_not_exist(client, friends):
    alice, _, carol = friends
    chat = await new_chat(client, alice, ["bob"], message="secret")
    for path in [f"/v1/chats/{chat['id']}", "/v1/chats/999999"]:
        resp = await client.get(path, headers=carol.headers)
        assert await error_of(resp) == (404, "not_found")
        not_there = await resp.json()
    resp = await client.get(f"/v1/chats/{chat['id']}", headers=carol.headers)
    assert await resp.json() == not_there  # nothing tells the two apart


async def test_every_chat_path_is_404_for_a_stranger_exactly_as_for_no_chat(client, conn, friends):
    alice, bob, carol = friends
    await befriend(client, carol, await sign_up(client, "dave"))
    group = await new_chat(client, alice, ["bob"], name="g", message="secret")

    async def answers(chat_id):
        found = []
        for method, path, body in [
            ("GET", f"/v1/chats/{chat_id}", None),
            ("PATCH", f"/v1/chats/{chat_id}", {"name": "mine now"}),
            ("GET", f"/v1/chats/{chat_id}/participants", None),
            ("POST", f"/v1/chats/{chat_id}/participants", {"user": "dave"}),
            ("POST", f"/v1/chats/{chat_id}/participants", {"user": "carol"}),
            ("DELETE", f"/v1/chats/{chat_id}/participants/{bob.id}", None),
            ("DELETE", f"/v1/chats/{chat_id}/participants/{carol.id}", None),
            ("GET", f"/v1/chats/{chat_id}/messages", None),
            ("GET", f"/v1/chats/{chat_id}/messages?after=0", None),
            ("POST", f"/v1/chats/{chat_id}/messages", {"body": "hi"}),
            ("POST", f"/v1/chats/{chat_id}/read", {"seq": 1}),
        ]:
            resp = await client.request(method, path, json=body, headers=carol.headers)
            assert resp.status == 404, (method, path)
            found.append(await resp.json())
        return found

    assert await answers(group["id"]) == await answers(999999)
    assert await conn.fetchval("SELECT name FROM chat_sesh WHERE id = $1", group["id"]) == "g"
    assert await conn.fetchval("SELECT count(*) FROM message") == 1
    assert await conn.fetchval("SELECT count(*) FROM chat_participant") == 2


@pytest.mark.parametrize("chat_id", ["0", "-1", "abc", "1.5", "99999999999999999999999"])
async def test_a_chat_path_id_that_is_not_a_positive_integer_is_404(client, alice, chat_id):
    resp = await client.get(f"/v1/chats/{chat_id}", headers=alice.headers)
    assert await error_of(resp) == (404, "not_found")


# Renaming


async def test_any_participant_renames_a_group(client, friends):
    alice, bob, carol = friends
    group = await new_chat(client, alice, ["bob", "carol"], name="old")
    resp = await client.patch(f"/v1/chats/{group['id']}", json={"name": "new"}, headers=bob.headers)
    assert resp.status == 200
    renamed = await resp.json()
    assert set(renamed) == CHAT_FIELDS
    assert renamed["name"] == "new"
    assert renamed["created_by"] == alice.id
    resp = await client.get(f"/v1/chats/{group['id']}", headers=carol.headers)
    assert (await resp.json())["name"] == "new"


async def test_a_direct_chat_cannot_be_renamed(client, friends):
    alice, _, _ = friends
    chat = await new_chat(client, alice, ["bob"])
    resp = await client.patch(f"/v1/chats/{chat['id']}", json={"name": "x"}, headers=alice.headers)
    assert await error_of(resp) == (422, "not_a_group")
    assert (await resp.json())["error"]["details"]


async def test_renaming_a_chat_you_are_not_in_is_404(client, friends):
    alice, _, carol = friends
    group = await new_chat(client, alice, ["bob"], name="g")
    resp = await client.patch(f"/v1/chats/{group['id']}", json={"name": "x"}, headers=carol.headers)
    assert await error_of(resp) == (404, "not_found")
    resp = await client.get(f"/v1/chats/{group['id']}", headers=alice.headers)
    assert (await resp.json())["name"] == "g"


async def test_a_group_name_can_be_taken_away_and_given_back(client, friends):
    alice, bob, _ = friends
    group = await new_chat(client, alice, ["bob", "carol"], name="old")
    ws = await client.ws_connect("/v1/events", headers=bob.headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    resp = await client.patch(f"/v1/chats/{group['id']}", json={"name": None}, headers=bob.headers)
    assert resp.status == 200
    assert (await resp.json())["name"] is None
    event = await ws.receive_json(timeout=5)
    assert (event["type"], event["data"]["name"]) == ("chat.updated", None)
    resp = await client.get(f"/v1/chats/{group['id']}", headers=alice.headers)
    assert (await resp.json())["name"] is None
    resp = await client.patch(
        f"/v1/chats/{group['id']}", json={"name": "new"}, headers=alice.headers
    )
    assert (await resp.json())["name"] == "new"
    await ws.close()


async def test_a_direct_chat_cannot_lose_a_name_it_never_had(client, friends):
    alice, _, _ = friends
    chat = await new_chat(client, alice, ["bob"])
    resp = await client.patch(f"/v1/chats/{chat['id']}", json={"name": None}, headers=alice.headers)
    assert await error_of(resp) == (422, "not_a_group")


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x" * 65}, {"name": 5}, {}, {"name": "x", "kind": "group"}]
)
async def test_a_new_name_follows_the_rules(client, friends, body):
    alice, _, _ = friends
    group = await new_chat(client, alice, ["bob"], name="g")
    resp = await client.patch(f"/v1/chats/{group['id']}", json=body, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")


async def test_a_bad_rename_body_is_422_before_the_chat_is_looked_up(client, alice):
    resp = await client.patch("/v1/chats/999999", json={"name": ""}, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")
