"""Chat participants: GET/POST /v1/chats/{id}/participants, DELETE .../participants/{user_id}."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest
from conftest import TIMESTAMP, befriend, error_of, new_chat, sign_up

from chaat.app import create_app


async def add(client, who, chat_id, user):
    return await client.post(
        f"/v1/chats/{chat_id}/participants", json={"user": user}, headers=who.headers
    )


async def remove(client, who, chat_id, user_id):
    return await client.delete(f"/v1/chats/{chat_id}/participants/{user_id}", headers=who.headers)


async def usernames(client, who, chat_id):
    resp = await client.get(f"/v1/chats/{chat_id}/participants", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return [p["user"]["username"] for p in (await resp.json())["items"]]


@pytest.fixture
async def dave(client):
    return await sign_up(client, "dave")


@pytest.fixture
async def group(client, alice, bob, carol, dave):
    """alice's group with bob; alice is friends with bob, carol and dave; bob with dave."""
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    await befriend(client, alice, dave)
    await befriend(client, bob, dave)
    return await new_chat(client, alice, ["bob"], name="g")


# Listing


async def test_participants_are_listed_with_when_they_joined_and_read(client, alice, bob, group):
    resp = await client.get(f"/v1/chats/{group['id']}/participants", headers=bob.headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"items"}
    for item in body["items"]:
        assert set(item) == {"user", "joined_at", "last_read_seq"}
        assert set(item["user"]) == {"id", "username", "display_name", "created_at"}
        assert TIMESTAMP.fullmatch(item["joined_at"])
        assert item["last_read_seq"] == 0  # nothing said yet, nothing read
    assert {item["user"]["id"] for item in body["items"]} == {alice.id, bob.id}


async def test_participants_are_listed_earliest_first(client, alice, group):
    assert (await add(client, alice, group["id"], "dave")).status == 201
    assert (await add(client, alice, group["id"], "carol")).status == 201
    names = await usernames(client, alice, group["id"])
    assert names[2:] == ["dave", "carol"]


async def test_participants_of_a_chat_you_are_not_in_are_404(client, carol, group):
    resp = await client.get(f"/v1/chats/{group['id']}/participants", headers=carol.headers)
    assert await error_of(resp) == (404, "not_found")
    resp = await client.get("/v1/chats/999999/participants", headers=carol.headers)
    assert await error_of(resp) == (404, "not_found")


# Adding


async def test_a_participant_adds_a_friend_and_gets_the_chat(client, alice, bob, dave, group):
    resp = await add(client, bob, group["id"], "dave")  # any participant, not only the creator
    assert resp.status == 201
    chat = await resp.json()
    assert chat["id"] == group["id"]
    assert [u["username"] for u in chat["participants"]] == ["alice", "bob", "dave"]
    resp = await client.get(f"/v1/chats/{group['id']}", headers=dave.headers)
    assert resp.status == 200
    resp = await client.get("/v1/chats", headers=dave.headers)
    assert [c["id"] for c in (await resp.json())["items"]] == [group["id"]]


async def test_a_participant_is_added_by_id_too(client, alice, carol, group):
    resp = await add(client, alice, group["id"], carol.id)
    assert resp.status == 201
    resp = await add(client, alice, group["id"], str(carol.id))
    assert await error_of(resp) == (409, "already_participant")


async def test_adding_someone_already_in_is_409(client, alice, bob, group):
    for user in ("bob", "BOB", bob.id, "alice"):
        resp = await add(client, alice, group["id"], user)
        assert await error_of(resp) == (409, "already_participant"), user


async def test_only_your_own_friends_can_be_added(client, conn, bob, carol, group):
    resp = await add(client, bob, group["id"], "carol")  # alice's friend, not bob's
    assert await error_of(resp) == (403, "not_friends")
    details = (await resp.json())["error"]["details"]
    assert [(d["field"], d["value"]) for d in details] == [("user", "carol")]
    count = "SELECT count(*) FROM chat_participant WHERE chat_sesh_id = $1"
    assert await conn.fetchval(count, group["id"]) == 2


async def test_adding_an_unknown_user_is_404(client, alice, group):
    for user in ("nobody", 999999, "999999"):
        resp = await add(client, alice, group["id"], user)
        assert await error_of(resp) == (404, "user_not_found"), user


async def test_adding_to_a_direct_chat_is_not_a_group(client, alice, carol, group):
    direct = await new_chat(client, alice, ["bob"])
    assert direct["kind"] == "direct"
    resp = await add(client, alice, direct["id"], "carol")
    assert await error_of(resp) == (422, "not_a_group")
    assert (await resp.json())["error"]["details"]


async def test_adding_to_a_chat_you_are_not_in_is_404(client, carol, dave, group):
    await befriend(client, carol, dave)
    resp = await add(client, carol, group["id"], "dave")
    assert await error_of(resp) == (404, "not_found")
    resp = await add(client, carol, 999999, "dave")
    assert await error_of(resp) == (404, "not_found")


@pytest.mark.parametrize(
    "body", [{}, {"user": None}, {"user": 0}, {"user": ["dave"]}, {"user": "dave", "role": "x"}]
)
async def test_a_bad_add_body_is_422(client, alice, group, body):
    resp = await client.post(
        f"/v1/chats/{group['id']}/participants", json=body, headers=alice.headers
    )
    assert await error_of(resp) == (422, "validation_error")


async def test_a_full_group_takes_nobody_else(aiohttp_client, settings):
    client = await aiohttp_client(create_app(replace(settings, max_group_size=3)))
    alice = await sign_up(client, "alice")
    for name in ("bob", "carol", "dave"):
        await befriend(client, alice, await sign_up(client, name))
    group = await new_chat(client, alice, ["bob"], name="g")
    assert (await add(client, alice, group["id"], "carol")).status == 201
    resp = await add(client, alice, group["id"], "dave")
    assert await error_of(resp) == (422, "too_many_participants")
    assert (await resp.json())["error"]["details"]
    # Someone leaving frees a place.
    bob_id = next(u["id"] for u in group["participants"] if u["username"] == "bob")
    assert (await remove(client, alice, group["id"], bob_id)).status == 204
    assert (await add(client, alice, group["id"], "dave")).status == 201


# Leaving and removing


async def test_anyone_may_leave_and_then_the_chat_is_404_for_them(client, alice, bob, group):
    await client.post(
        f"/v1/chats/{group['id']}/messages", json={"body": "before"}, headers=bob.headers
    )
    resp = await remove(client, bob, group["id"], bob.id)
    assert resp.status == 204
    assert await resp.read() == b""
    chat_id = group["id"]
    for method, path, body in [
        ("GET", f"/v1/chats/{chat_id}", None),
        ("PATCH", f"/v1/chats/{chat_id}", {"name": "x"}),
        ("GET", f"/v1/chats/{chat_id}/participants", None),
        ("POST", f"/v1/chats/{chat_id}/participants", {"user": "dave"}),
        ("DELETE", f"/v1/chats/{chat_id}/participants/{bob.id}", None),
        ("GET", f"/v1/chats/{chat_id}/messages", None),
        ("POST", f"/v1/chats/{chat_id}/messages", {"body": "after"}),
        ("POST", f"/v1/chats/{chat_id}/read", {"seq": 1}),
    ]:
        resp = await client.request(method, path, json=body, headers=bob.headers)
        assert await error_of(resp) == (404, "not_found"), (method, path)
    resp = await client.get("/v1/chats", headers=bob.headers)
    assert (await resp.json())["items"] == []
    assert await usernames(client, alice, chat_id) == ["alice"]


async def test_the_creator_may_leave_too(client, alice, bob, group):
    assert (await remove(client, alice, group["id"], alice.id)).status == 204
    assert await usernames(client, bob, group["id"]) == ["bob"]
    resp = await client.get(f"/v1/chats/{group['id']}", headers=bob.headers)
    assert (await resp.json())["created_by"] == alice.id


async def test_only_the_creator_removes_others(client, alice, bob, dave, group):
    assert (await add(client, bob, group["id"], "dave")).status == 201
    resp = await remove(client, bob, group["id"], dave.id)
    assert await error_of(resp) == (403, "forbidden")
    resp = await remove(client, bob, group["id"], alice.id)
    assert await error_of(resp) == (403, "forbidden")
    assert await usernames(client, alice, group["id"]) == ["alice", "bob", "dave"]
    resp = await remove(client, alice, group["id"], dave.id)
    assert resp.status == 204
    assert await usernames(client, alice, group["id"]) == ["alice", "bob"]
    resp = await client.get(f"/v1/chats/{group['id']}", headers=dave.headers)
    assert await error_of(resp) == (404, "not_found")


async def test_removing_someone_who_is_not_in_the_chat_is_404(client, alice, bob, carol, group):
    # 404 ranks before 403: even a non-creator learns only that there is no such participant.
    for who in (alice, bob):
        for user_id in (carol.id, 999999):
            resp = await remove(client, who, group["id"], user_id)
            assert await error_of(resp) == (404, "not_found"), (who.username, user_id)


async def test_removing_from_a_chat_you_are_not_in_is_404(client, alice, carol, group):
    resp = await remove(client, carol, group["id"], alice.id)
    assert await error_of(resp) == (404, "not_found")
    resp = await remove(client, carol, group["id"], carol.id)
    assert await error_of(resp) == (404, "not_found")


async def test_nobody_leaves_or_is_removed_from_a_direct_chat(client, alice, bob, group):
    direct = await new_chat(client, alice, ["bob"])
    for who, user_id in [(alice, alice.id), (alice, bob.id), (bob, bob.id)]:
        resp = await remove(client, who, direct["id"], user_id)
        assert await error_of(resp) == (422, "not_a_group"), (who.username, user_id)
    assert sorted(await usernames(client, alice, direct["id"])) == ["alice", "bob"]


@pytest.mark.parametrize("user_id", ["0", "-1", "bob", "1.0"])
async def test_a_participant_path_id_that_is_not_a_positive_integer_is_404(
    client, alice, group, user_id
):
    resp = await remove(client, alice, group["id"], user_id)
    assert await error_of(resp) == (404, "not_found")


async def test_a_removed_participant_can_be_added_again(client, alice, bob, group):
    assert (await remove(client, bob, group["id"], bob.id)).status == 204
    assert (await add(client, alice, group["id"], "bob")).status == 201
    assert await usernames(client, bob, group["id"]) == ["alice", "bob"]


# The database keeps the rule


async def test_the_database_holds_a_participant_once_per_chat(client, conn, alice, group):
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await conn.execute(
            "INSERT INTO chat_participant (chat_sesh_id, user_id) VALUES ($1, $2)",
            group["id"],
            alice.id,
        )
    assert caught.value.constraint_name == "chat_participant_pkey"


async def test_nobody_removes_anyone_from_a_direct_chat(client, alice, bob):
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])  # alice created it
    for who, whom in ((alice, bob), (bob, alice)):
        resp = await client.delete(
            f"/v1/chats/{chat['id']}/participants/{whom.id}", headers=who.headers
        )
        assert await error_of(resp) == (422, "not_a_group")
        assert (await resp.json())["error"]["details"][0]["field"] == "chat_id"
