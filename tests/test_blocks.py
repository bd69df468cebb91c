"""Blocking: PUT/DELETE /v1/blocks/{user}, GET /v1/blocks, and what a block stops."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from conftest import befriend, error_of, new_chat, problem_fields, sign_up
from test_events import connect


async def block(client, who, user, status=204):
    resp = await client.put(f"/v1/blocks/{user}", headers=who.headers)
    assert resp.status == status, await resp.text()
    return resp


async def blocked_names(client, who):
    resp = await client.get("/v1/blocks", headers=who.headers)
    assert resp.status == 200
    return [b["user"]["username"] for b in (await resp.json())["items"]]


async def test_blocking_lists_newest_first_and_again_is_harmless(client, alice, bob, carol):
    await block(client, alice, "bob")
    await block(client, alice, carol.id)  # a username or an id
    resp = await client.get("/v1/blocks", headers=alice.headers)
    items = (await resp.json())["items"]
    assert [b["user"]["username"] for b in items] == ["carol", "bob"]
    assert set(items[0]) == {"user", "since"}
    await block(client, alice, "BOB")  # again, any case: nothing changes
    resp = await client.get("/v1/blocks", headers=alice.headers)
    assert (await resp.json())["items"] == items
    assert await blocked_names(client, bob) == []  # bob is not told


async def test_what_blocking_refuses(client, alice, bob):
    assert await problem_fields(await block(client, alice, "alice", 422)) == {"user"}
    assert await error_of(await block(client, alice, "nobody", 404)) == (404, "user_not_found")
    resp = await client.put("/v1/blocks/bob", json={"why": "spam"}, headers=alice.headers)
    assert await problem_fields(resp) == {"why"}
    resp = await client.delete("/v1/blocks/bob", headers=alice.headers)
    assert await error_of(resp) == (404, "not_found")
    resp = await client.delete("/v1/blocks/nobody", headers=alice.headers)
    assert await error_of(resp) == (404, "user_not_found")
    assert await blocked_names(client, alice) == []


async def test_a_block_ends_the_friendship_and_withdraws_pending_requests(
    client, alice, bob, carol
):
    await befriend(client, alice, bob)
    resp = await client.post("/v1/friend-requests", json={"to": "alice"}, headers=carol.headers)
    request_id = (await resp.json())["id"]
    alices, bobs, carols = [await connect(client, u) for u in (alice, bob, carol)]
    await block(client, alice, "bob")
    await block(client, alice, "carol")
    assert (await alices.expect("friend.removed"))["data"] == {"user_id": bob.id}
    assert (await bobs.expect("friend.removed"))["data"] == {"user_id": alice.id}
    withdrawn = await alices.expect("friend_request.withdrawn")  # its recipient hears
    assert withdrawn["data"] == {"id": request_id}
    resp = await client.get("/v1/friends", headers=bob.headers)
    assert (await resp.json())["items"] == []
    resp = await client.get("/v1/friend-requests", headers=carol.headers)
    assert (await resp.json())["items"] == []
    for stream in (alices, bobs, carols):
        await stream.ws.close()


async def test_while_either_blocks_the_other_requests_and_direct_messages_are_refused(
    client, alice, bob, carol
):
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    await befriend(client, bob, carol)
    direct = await new_chat(client, alice, ["bob"])
    group = await new_chat(client, alice, ["bob", "carol"], name="Trio")
    await block(client, bob, "alice")
    for sender, to in ((alice, "bob"), (bob, "alice")):  # either way
        resp = await client.post("/v1/friend-requests", json={"to": to}, headers=sender.headers)
        assert await error_of(resp) == (403, "blocked")
        resp = await client.post(
            f"/v1/users/{to}/messages", json={"body": "hi"}, headers=sender.headers
        )
        assert await error_of(resp) == (403, "blocked")
        resp = await client.post(
            f"/v1/chats/{direct['id']}/messages", json={"body": "hi"}, headers=sender.headers
        )
        assert await error_of(resp) == (403, "blocked")
    # The group goes on; neither can make a chat with or add the other (not friends).
    resp = await client.post(
        f"/v1/chats/{group['id']}/messages", json={"body": "still here"}, headers=alice.headers
    )
    assert resp.status == 201
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    assert await error_of(resp) == (403, "not_friends")
    # Unblocking restores nothing, but requests pass again.
    assert (await client.delete("/v1/blocks/alice", headers=bob.headers)).status == 204
    resp = await client.post(
        f"/v1/chats/{direct['id']}/messages", json={"body": "hi"}, headers=alice.headers
    )
    assert await error_of(resp) == (403, "not_friends")
    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    assert resp.status == 201


async def test_editing_and_reacting_in_the_direct_chat_are_refused_too(client, alice, bob):
    await befriend(client, alice, bob)
    direct = await new_chat(client, alice, ["bob"])
    path = f"/v1/chats/{direct['id']}/messages"
    assert (await client.post(path, json={"body": "hi"}, headers=alice.headers)).status == 201
    await block(client, alice, "bob")
    resp = await client.patch(f"{path}/1", json={"body": "hey"}, headers=alice.headers)
    assert await error_of(resp) == (403, "blocked")
    resp = await client.put(f"{path}/1/reactions/ok", headers=bob.headers)
    assert await error_of(resp) == (403, "blocked")
    # Taking back what you said still works.
    assert (await client.delete(f"{path}/1", headers=alice.headers)).status == 204


async def test_a_block_and_a_request_racing_end_blocked(client, alice, bob, conn):
    """Whatever the order, a block wins: no friendship, no pending request left."""
    for _ in range(5):
        await asyncio.gather(
            client.put("/v1/blocks/bob", headers=alice.headers),
            client.post("/v1/friend-requests", json={"to": "alice"}, headers=bob.headers),
            client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers),
        )
        assert await conn.fetchval("SELECT count(*) FROM friendship") == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM friend_request WHERE status = 'pending'") == 0
        )
        assert (await client.delete("/v1/blocks/bob", headers=alice.headers)).status == 204
        await conn.execute("DELETE FROM friend_request")


async def test_the_database_keeps_one_block_per_ordered_pair(client, alice, bob, conn):
    results = await asyncio.gather(*(block(client, alice, "bob") for _ in range(10)))
    assert {r.status for r in results} == {204}
    assert await conn.fetchval("SELECT count(*) FROM user_block") == 1
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(
            "INSERT INTO user_block (blocker_id, blocked_id) VALUES ($1, $2)", alice.id, bob.id
        )
    await conn.execute(
        "INSERT INTO user_block (blocker_id, blocked_id) VALUES ($1, $2)", bob.id, alice.id
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO user_block (blocker_id, blocked_id) VALUES ($1, $1)", alice.id
        )
    await sign_up(client, "dave")  # the users go on
