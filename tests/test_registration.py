"""Who may sign up (CHAAT_REGISTRATION), invite codes from `chaat admin invite` and
POST /v1/invites, and signups racing for an invite's last use."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest
from conftest import PASSWORD, error_of, problem_fields, sign_up

from chaat.__main__ import main
from chaat.app import create_app


@pytest.fixture
async def server(aiohttp_client, settings):
    """A client of a server whose registration mode the test chooses."""

    async def start(registration: str):
        return await aiohttp_client(create_app(replace(settings, registration=registration)))

    return start


async def register(client, username, **extra):
    return await client.post(
        "/v1/users", json={"username": username, "password": PASSWORD, **extra}
    )


async def make_invite(client, admin, **body):
    resp = await client.post("/v1/invites", json=body, headers=admin.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


@pytest.fixture
async def admin(client, conn):
    root = await sign_up(client, "root")
    await conn.execute("UPDATE app_user SET is_admin = true WHERE id = $1", root.id)
    return root


async def test_open_registration_ignores_invites(server):
    client = await server("open")
    assert (await register(client, "alice", invite="anything")).status == 201
    resp = await register(client, "bob", invite=123)  # still the body's rules
    assert await problem_fields(resp) == {"invite"}


async def test_closed_registration_refuses_everyone_after_the_body_rules(server):
    client = await server("closed")
    assert await error_of(await register(client, "alice")) == (403, "registration_closed")
    assert await problem_fields(await register(client, "x")) == {"username"}


async def test_an_invite_lets_its_uses_sign_up_and_no_more(server, client, admin, conn):
    invite = await make_invite(client, admin, uses=2, expires_in=60)
    assert set(invite) == {"code", "uses_left", "expires_at"}
    assert invite["uses_left"] == 2
    # The code itself is never stored.
    assert not await conn.fetchval(
        "SELECT count(*) FROM invite WHERE code_hash = convert_to($1, 'UTF8')", invite["code"]
    )
    gated = await server("invite")
    for body in ({}, {"invite": None}, {"invite": "wrong"}):
        assert await error_of(await register(gated, "alice", **body)) == (403, "invalid_invite")
    assert (await register(gated, "alice", invite=invite["code"])).status == 201
    # A taken name is 409 with a good invite, and uses nothing up...
    assert await error_of(await register(gated, "ALICE", invite=invite["code"])) == (
        409,
        "username_taken",
    )
    # ...but a bad invite outranks it.
    assert await error_of(await register(gated, "alice", invite="wrong")) == (
        403,
        "invalid_invite",
    )
    assert (await register(gated, "bob", invite=invite["code"])).status == 201
    assert await error_of(await register(gated, "carol", invite=invite["code"])) == (
        403,
        "invalid_invite",
    )
    assert await conn.fetchval("SELECT uses_left FROM invite") == 0


async def test_an_expired_invite_is_refused(server, client, admin, conn):
    invite = await make_invite(client, admin)
    await conn.execute(
        "UPDATE invite SET created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second'"
    )
    gated = await server("invite")
    assert await error_of(await register(gated, "alice", invite=invite["code"])) == (
        403,
        "invalid_invite",
    )


async def test_signups_racing_for_the_last_use_get_one_account(server, client, admin, conn):
    invite = await make_invite(client, admin, uses=3)
    gated = await server("invite")
    results = await asyncio.gather(
        *(register(gated, f"racer{n}", invite=invite["code"]) for n in range(12))
    )
    assert sorted(r.status for r in results) == [201] * 3 + [403] * 9
    assert await conn.fetchval("SELECT uses_left FROM invite") == 0
    assert await conn.fetchval("SELECT count(*) FROM app_user WHERE username LIKE 'racer%'") == 3
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE invite SET uses_left = uses_left - 1")


async def test_only_administrators_make_invites_and_the_body_is_checked(client, admin, alice):
    resp = await client.post("/v1/invites", json={}, headers=alice.headers)
    assert await error_of(resp) == (403, "forbidden")
    resp = await client.post("/v1/invites", json={"uses": 0}, headers=alice.headers)
    assert await problem_fields(resp) == {"uses"}  # the body's rules first
    for body, field in (
        ({"uses": 1_000_001}, "uses"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": "60"}, "expires_in"),
        ({"code": "mine"}, "code"),
    ):
        resp = await client.post("/v1/invites", json=body, headers=admin.headers)
        assert await problem_fields(resp) == {field}
    invite = await make_invite(client, admin)
    assert invite["uses_left"] == 1  # one use, for a week, by default
    assert len(invite["code"]) >= 20


async def test_the_admin_command_prints_a_code_that_works(
    server, database_url, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CHAAT_SECRET_KEY", "a secret only these tests use")
    args = ["admin", "invite", "--uses", "1", "--expires", "3600"]
    assert await asyncio.to_thread(main, args) == 0
    code = capsys.readouterr().out.strip()
    gated = await server("invite")
    assert (await register(gated, "alice", invite=code)).status == 201
    assert await error_of(await register(gated, "bob", invite=code)) == (403, "invalid_invite")
