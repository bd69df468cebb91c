"""Administrators: `chaat admin promote|demote USERNAME`, and what an administrator may see."""

from __future__ import annotations

import asyncio

import pytest
from conftest import befriend, error_of, sign_up

from chaat.__main__ import main


@pytest.fixture
def admin_command(monkeypatch, database_url):
    """Run `chaat admin ACTION USERNAME` against the test's database; answers the exit code."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CHAAT_SECRET_KEY", "a secret only these tests use")

    async def run(action, username):
        # main() calls asyncio.run, which needs a thread without a running loop.
        return await asyncio.to_thread(main, ["admin", action, username])

    return run


@pytest.fixture
async def chats(client, alice, bob, carol):
    """bob and carol's direct chat (with messages) and group; alice is in neither."""
    dave = await sign_up(client, "dave")
    await befriend(client, bob, carol)
    await befriend(client, bob, dave)
    resp = await client.post(
        "/v1/chats", json={"participants": ["carol"], "message": "psst"}, headers=bob.headers
    )
    direct = await resp.json()
    resp = await client.post(
        "/v1/chats",
        json={"participants": ["carol", "dave"], "name": "secret club"},
        headers=bob.headers,
    )
    group = await resp.json()
    resp = await client.post(
        f"/v1/chats/{group['id']}/messages", json={"body": "hello club"}, headers=carol.headers
    )
    assert resp.status == 201
    return direct, group


async def test_the_admin_command_promotes_and_demotes(
    client, conn, capsys, admin_command, alice, chats
):
    resp = await client.get("/v1/chats?all=true", headers=alice.headers)
    assert await error_of(resp) == (403, "forbidden")

    assert await admin_command("promote", "ALICE") == 0
    assert "is now an administrator" in capsys.readouterr().out
    assert await conn.fetchval("SELECT is_admin FROM app_user WHERE username = 'alice'")
    # The same token: the flag is read on every request.
    resp = await client.get("/v1/chats?all=true", headers=alice.headers)
    assert resp.status == 200
    assert len((await resp.json())["items"]) == 2

    assert await admin_command("demote", "alice") == 0
    assert "alice is no longer an administrator" in capsys.readouterr().out
    assert not await conn.fetchval("SELECT is_admin FROM app_user WHERE username = 'alice'")
    resp = await client.get("/v1/chats?all=true", headers=alice.headers)
    assert await error_of(resp) == (403, "forbidden")
    resp = await client.get(f"/v1/chats/{chats[0]['id']}", headers=alice.headers)
    assert await error_of(resp) == (404, "not_found")


async def test_the_admin_command_refuses_an_unknown_user(conn, capsys, admin_command):
    assert await admin_command("promote", "nobody") == 1
    assert "no such user: nobody" in capsys.readouterr().err
    assert await conn.fetchval("SELECT count(*) FROM app_user WHERE is_admin") == 0


async def test_nobody_is_an_administrator_by_default(client, conn, alice):
    assert await conn.fetchval("SELECT is_admin FROM app_user WHERE id = $1", alice.id) is False


async def test_an_administrator_lists_every_chat_without_their_contents(
    client, admin_command, alice, bob, chats
):
    direct, group = chats
    await befriend(client, alice, bob)
    resp = await client.post(
        "/v1/chats", json={"participants": ["alice"], "message": "hi"}, headers=bob.headers
    )
    assert resp.status == 201
    own = await resp.json()
    assert await admin_command("promote", "alice") == 0

    resp = await client.get("/v1/chats?all=true", headers=alice.headers)
    assert resp.status == 200
    items = (await resp.json())["items"]
    assert [c["id"] for c in items] == [own["id"], group["id"], direct["id"]]
    by_id = {c["id"]: c for c in items}
    for chat in (direct, group):
        seen = by_id[chat["id"]]
        assert seen["last_message"] is None
        assert seen["unread_count"] == 0
        assert seen["participants"] == chat["participants"]
    assert by_id[group["id"]]["name"] == "secret club"
    # In a chat they take part in, an administrator is a participant like any other.
    assert by_id[own["id"]]["last_message"]["body"] == "hi"
    assert by_id[own["id"]]["unread_count"] == 1

    resp = await client.get("/v1/chats?all=true&with=dave", headers=alice.headers)
    assert [c["id"] for c in (await resp.json())["items"]] == [group["id"]]
    for absent in ("", "?all=false"):
        resp = await client.get(f"/v1/chats{absent}", headers=alice.headers)
        assert [c["id"] for c in (await resp.json())["items"]] == [own["id"]], absent


async def test_an_administrator_reads_any_chat_and_its_participants(
    client, admin_command, alice, chats
):
    direct, group = chats
    assert await admin_command("promote", "alice") == 0
    for chat in (direct, group):
        resp = await client.get(f"/v1/chats/{chat['id']}", headers=alice.headers)
        assert resp.status == 200
        seen = await resp.json()
        assert seen["id"] == chat["id"]
        assert seen["last_message"] is None
        assert seen["unread_count"] == 0
        resp = await client.get(f"/v1/chats/{chat['id']}/participants", headers=alice.headers)
        assert resp.status == 200
        members = [p["user"]["id"] for p in (await resp.json())["items"]]
        assert sorted(members) == sorted(u["id"] for u in chat["participants"])
    resp = await client.get("/v1/chats/999999", headers=alice.headers)
    assert await error_of(resp) == (404, "not_found")


async def test_an_administrator_never_reads_or_changes_a_chat_they_are_not_in(
    client, conn, admin_command, alice, bob, carol, chats
):
    direct, group = chats
    await befriend(client, alice, carol)
    assert await admin_command("promote", "alice") == 0
    before = await conn.fetch("SELECT * FROM chat_participant ORDER BY chat_sesh_id, user_id")
    for chat in (direct, group):
        chat_id = chat["id"]
        for method, path, body in [
            ("GET", f"/v1/chats/{chat_id}/messages", None),
            ("GET", f"/v1/chats/{chat_id}/messages?after=0", None),
            ("POST", f"/v1/chats/{chat_id}/messages", {"body": "admin here"}),
            ("PATCH", f"/v1/chats/{chat_id}", {"name": "taken over"}),
            ("POST", f"/v1/chats/{chat_id}/participants", {"user": "alice"}),
            ("POST", f"/v1/chats/{chat_id}/participants", {"user": "carol"}),
            ("DELETE", f"/v1/chats/{chat_id}/participants/{bob.id}", None),
            ("DELETE", f"/v1/chats/{chat_id}/participants/{alice.id}", None),
            ("POST", f"/v1/chats/{chat_id}/read", {"seq": 1}),
        ]:
            resp = await client.request(method, path, json=body, headers=alice.headers)
            assert await error_of(resp) == (404, "not_found"), (method, path, body)
    assert await conn.fetchval("SELECT name FROM chat_sesh WHERE id = $1", group["id"]) == (
        "secret club"
    )
    assert await conn.fetchval("SELECT count(*) FROM message WHERE sender_id = $1", alice.id) == 0
    after = await conn.fetch("SELECT * FROM chat_participant ORDER BY chat_sesh_id, user_id")
    assert after == before
