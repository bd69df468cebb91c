"""Logging in and out, changing passwords, and what a token is worth: /v1/tokens."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import argon2
import asyncpg
from conftest import PASSWORD, User, error_of, problem_fields, sign_up

from chaat import hub, keys
from chaat.app import create_app
from chaat.bus import LISTENER_NAME
from chaat.security import Tokens


async def log_in(client, username, password=PASSWORD):
    return await client.post("/v1/tokens", json={"username": username, "password": password})


async def new_session(client, user: User) -> User:
    """Another logged-in session of user (say, on a second device)."""
    resp = await log_in(client, user.username)
    assert resp.status == 201
    return replace(user, token=(await resp.json())["token"])


async def works(client, user: User) -> bool:
    """Whether user's token is accepted; a refusal must be the one 401 for every reason."""
    resp = await client.get("/v1/users/me", headers=user.headers)
    if resp.status == 200:
        return True
    assert await error_of(resp) == (401, "unauthorized")
    return False


# Logging in


async def test_log_in_answers_a_token_its_expiry_and_the_user(client, alice):
    resp = await log_in(client, "alice")
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == await (await client.get("/v1/users/me", headers=alice.headers)).json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["expires_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status == 200


async def test_token_lifetime_is_configurable(settings, aiohttp_client):
    client = await aiohttp_client(create_app(replace(settings, token_ttl=3600)))
    await sign_up(client, "alice")
    body = await (await log_in(client, "alice")).json()
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=1)


async def test_log_in_ignores_the_case_of_the_username(client):
    await client.post("/v1/users", json={"username": "Alice", "password": PASSWORD})
    for name in ("alice", "ALICE", "aLiCe"):
        resp = await log_in(client, name)
        assert resp.status == 201, name
        assert (await resp.json())["user"]["username"] == "Alice"


async def test_wrong_username_and_wrong_password_get_the_same_answer(client, alice):
    wrong_password = await log_in(client, "alice", "not the password")
    wrong_username = await log_in(client, "alicia")
    malformed_username = await log_in(client, "")
    assert await error_of(wrong_password) == (401, "invalid_credentials")
    body = await wrong_password.json()
    assert await wrong_username.json() == body
    assert await malformed_username.json() == body
    assert wrong_username.status == malformed_username.status == 401


async def test_passwords_are_stored_only_as_argon2id_hashes(client, conn, alice):
    password_hash = await conn.fetchval(
        "SELECT password_hash FROM app_user WHERE id = $1", alice.id
    )
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert argon2.PasswordHasher().verify(password_hash, PASSWORD)


async def test_an_outdated_hash_is_replaced_at_the_next_login(client, conn, alice):
    old = argon2.PasswordHasher(time_cost=2, memory_cost=2048).hash(PASSWORD)
    await conn.execute("UPDATE app_user SET password_hash = $1 WHERE id = $2", old, alice.id)
    assert (await log_in(client, "alice")).status == 201
    new = await conn.fetchval("SELECT password_hash FROM app_user WHERE id = $1", alice.id)
    assert new != old
    assert new.startswith("$argon2id$")
    assert ",t=1," in new
    assert (await log_in(client, "alice")).status == 201


async def test_a_hash_of_four_lanes_still_logs_in_and_becomes_one_of_one_lane(
    client, conn, settings, alice
):
    """Earlier versions stored hashes of 4 lanes (argon2-cffi's default), each computed
    in a thread of its own (chaat.security.PARALLELISM): they keep working, and the next
    login stores the password again with one lane."""
    old = argon2.PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=4,
    ).hash(PASSWORD)
    await conn.execute("UPDATE app_user SET password_hash = $1 WHERE id = $2", old, alice.id)
    assert (await log_in(client, "alice", "not the password")).status == 401
    assert (await log_in(client, "alice")).status == 201
    new = await conn.fetchval("SELECT password_hash FROM app_user WHERE id = $1", alice.id)
    assert argon2.extract_parameters(new).parallelism == 1
    assert (await log_in(client, "alice")).status == 201


async def test_a_rehash_at_login_holds_no_database_connection(client, conn, alice, monkeypatch):
    """A rehash takes a hash's time (a quarter of a second at the defaults): a storm of
    logins after the parameters changed must not hold the pool meanwhile."""
    old = argon2.PasswordHasher(time_cost=2, memory_cost=2048).hash(PASSWORD)
    await conn.execute("UPDATE app_user SET password_hash = $1 WHERE id = $2", old, alice.id)
    pool = client.app[keys.pool]
    passwords = client.app[keys.passwords]
    held = []
    real_hash = passwords.hash

    async def hash_and_look(password: str) -> str:
        held.append(pool.get_size() - pool.get_idle_size())
        return await real_hash(password)

    monkeypatch.setattr(passwords, "hash", hash_and_look)
    assert (await log_in(client, "alice")).status == 201
    assert held == [0]


# Logging out


async def test_deleting_the_current_token_revokes_only_that_token(client, alice, bob):
    laptop = await new_session(client, alice)
    resp = await client.delete("/v1/tokens/current", headers=alice.headers)
    assert resp.status == 204
    assert not await works(client, alice)
    assert await works(client, laptop)
    assert await works(client, bob)


async def test_deleting_all_tokens_revokes_every_token_of_the_caller(client, alice, bob):
    laptop = await new_session(client, alice)
    resp = await client.delete("/v1/tokens", headers=alice.headers)
    assert resp.status == 204
    assert not await works(client, alice)
    assert not await works(client, laptop)
    assert await works(client, bob)
    assert await works(client, await new_session(client, alice))


async def test_a_revoked_token_stops_working_on_every_server_process(
    settings, aiohttp_client, client, alice
):
    other_process = await aiohttp_client(create_app(settings))
    assert await works(other_process, alice)
    assert (await client.delete("/v1/tokens/current", headers=alice.headers)).status == 204
    assert not await works(other_process, alice)


async def other_process_listener(database_url: str, *, confirm_after: float | None):
    """What another server process's listener does with a revocation: it confirms
    after confirm_after seconds (never with None). Answers its connection and the
    user ids it heard of."""
    conn = await asyncpg.connect(database_url, server_settings={"application_name": LISTENER_NAME})
    heard: list[str] = []
    confirming: set[asyncio.Task[None]] = set()

    async def confirm(nonce: str) -> None:
        await asyncio.sleep(confirm_after or 0)
        await conn.execute("SELECT pg_notify($1, $2)", hub.TOKENS_HEARD_CHANNEL, nonce)

    def on_revocation(_conn, _pid, _channel, payload: str) -> None:
        user_id, nonce, _ = payload.split(" ")
        heard.append(user_id)
        if confirm_after is not None:
            task = asyncio.ensure_future(confirm(nonce))
            confirming.add(task)
            task.add_done_callback(confirming.discard)

    await conn.add_listener(hub.TOKENS_CHANNEL, on_revocation)
    return conn, heard


async def test_logging_out_answers_once_every_process_confirmed(settings, client, alice):
    other, heard = await other_process_listener(settings.database_url, confirm_after=0.5)
    try:
        started = time.monotonic()
        assert (await client.delete("/v1/tokens/current", headers=alice.headers)).status == 204
        assert time.monotonic() - started >= 0.5
        assert heard == [str(alice.id)]
    finally:
        await other.close()


async def test_a_process_that_never_confirms_delays_a_revocation_but_does_not_block_it(
    settings, client, alice, monkeypatch, caplog
):
    monkeypatch.setattr(hub, "REVOCATION_CONFIRM_SECONDS", 0.3)
    other, heard = await other_process_listener(settings.database_url, confirm_after=None)
    try:
        with caplog.at_level(logging.WARNING, logger="chaat.hub"):
            resp = await client.put(
                "/v1/users/me/password",
                json={"old_password": PASSWORD, "new_password": "another long password 2"},
                headers=alice.headers,
            )
        assert resp.status == 204, await resp.text()
        assert heard == [str(alice.id)]
        assert "1 server process(es) did not confirm a revocation" in caplog.text
    finally:
        await other.close()


async def test_a_revoked_token_cannot_revoke_again(client, alice):
    assert (await client.delete("/v1/tokens/current", headers=alice.headers)).status == 204
    resp = await client.delete("/v1/tokens/current", headers=alice.headers)
    assert await error_of(resp) == (401, "unauthorized")


# Changing the password


async def change_password(client, user, old, new):
    body = {"old_password": old, "new_password": new}
    return await client.put("/v1/users/me/password", json=body, headers=user.headers)


async def test_changing_the_password_ends_every_other_session(client, alice, bob):
    laptop = await new_session(client, alice)
    resp = await change_password(client, alice, PASSWORD, "a brand new secret")
    assert resp.status == 204
    assert await works(client, alice)
    assert not await works(client, laptop)
    assert await works(client, bob)
    assert await error_of(await log_in(client, "alice")) == (401, "invalid_credentials")
    assert (await log_in(client, "alice", "a brand new secret")).status == 201


async def test_changing_the_password_needs_the_old_one(client, alice):
    laptop = await new_session(client, alice)
    resp = await change_password(client, alice, "a wrong guess", "a brand new secret")
    assert await error_of(resp) == (401, "invalid_credentials")
    # Nothing changed: the sessions live on and the old password still works.
    assert await works(client, alice)
    assert await works(client, laptop)
    assert (await log_in(client, "alice")).status == 201
    assert (await log_in(client, "alice", "a brand new secret")).status == 401


async def test_the_new_password_follows_the_password_rules(client, alice):
    resp = await change_password(client, alice, PASSWORD, "short")
    assert await problem_fields(resp) == {"new_password"}
    resp = await change_password(client, alice, "wrong but checked later", "x" * 257)
    assert await problem_fields(resp) == {"new_password"}
    assert (await log_in(client, "alice")).status == 201


# Tokens that do not work


async def test_an_expired_token_is_refused(client, conn, settings, alice):
    laptop = await new_session(client, alice)
    token_id = Tokens(settings.secret_key, ttl=settings.token_ttl).unsign(alice.token)
    await conn.execute(
        "UPDATE auth_token SET created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second' WHERE id = $1",
        token_id,
    )
    assert not await works(client, alice)
    assert await works(client, laptop)


async def test_missing_malformed_and_forged_tokens_all_get_one_401(client, settings, alice):
    forged = Tokens(secrets.token_urlsafe(32), ttl=3600).sign(alice.id)
    # A changed signature character; not the last one, whose low bits base64 ignores.
    payload, signature = alice.token.rsplit(".", 1)
    flipped = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    unknown_row = Tokens(settings.secret_key, ttl=3600).sign(10**9)
    headers = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": alice.token},
        {"Authorization": f"Basic {alice.token}"},
        {"Authorization": "Bearer chaat_"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {alice.token.removeprefix('chaat_')}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {flipped}"},
        {"Authorization": f"Bearer {unknown_row}"},
        {"Authorization": f"Bearer {alice.token}x"},
    ]
    for header in headers:
        resp = await client.get("/v1/users/me", headers=header)
        assert await error_of(resp) == (401, "unauthorized"), header


async def test_a_token_with_bytes_that_are_not_text_is_401(client, alice):
    # aiohttp's client refuses such headers, so this one is written by hand.
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        b"GET /v1/users/me HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Authorization: Bearer " + alice.token.encode() + b"\xff\xfe\r\n\r\n"
    )
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 401 "), response[:200]
    assert b'"unauthorized"' in response


async def test_the_bearer_scheme_is_case_insensitive(client, alice):
    resp = await client.get("/v1/users/me", headers={"Authorization": f"bearer {alice.token}"})
    assert resp.status == 200


async def test_token_free_paths_work_without_a_token(client):
    assert (
        await client.post("/v1/users", json={"username": "alice", "password": PASSWORD})
    ).status == 201
    assert (await log_in(client, "alice")).status == 201
    assert (await client.get("/v1/health")).status == 200


async def test_every_other_path_needs_a_token(client, alice):
    requests = [
        ("GET", "/v1/users/me"),
        ("GET", "/v1/users"),
        ("GET", "/v1/users/alice"),
        ("PUT", "/v1/users/me/password"),
        ("DELETE", "/v1/tokens"),
        ("DELETE", "/v1/tokens/current"),
        ("GET", "/v1/friend-requests"),
        ("POST", "/v1/friend-requests"),
        ("PATCH", "/v1/friend-requests/1"),
        ("DELETE", "/v1/friend-requests/1"),
        ("GET", "/v1/friends"),
        ("DELETE", "/v1/friends/1"),
    ]
    for method, path in requests:
        resp = await client.request(method, path, json={})
        assert await error_of(resp) == (401, "unauthorized"), (method, path)


async def test_an_overlong_username_or_password_at_login_is_just_wrong(client, alice):
    for body in (
        {"username": "alice", "password": "p" * 300},
        {"username": "a" * 300, "password": "p"},
    ):
        resp = await client.post("/v1/tokens", json=body)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_credentials"
