"""How many statements each request sends to PostgreSQL: a budget per endpoint, so that
round trips cannot creep back onto the hot paths."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import aiohttp
import pytest
from conftest import PASSWORD, befriend, sign_up, start_chaat

from chaat import keys, limits
from chaat.app import create_app
from chaat.db import queries

# The event hub's own work (after commit, off the request's path) shares the pool.
HUB = {
    queries.events.get_position.sql,
    queries.events.list_settled.sql,
    queries.events.notify_many.sql,
    queries.events.list_for_user.sql,
}


@pytest.fixture(params=[None, limits.DEFAULT_RATES], ids=["limits off", "limits on"])
async def watched(request, aiohttp_client, settings):
    """A client whose server has one pool connection, and the statements it runs; with
    the rate limits off, then on (their default rates)."""
    client = await aiohttp_client(
        create_app(replace(settings, pool_size=1, rate_limits=request.param))
    )
    statements: list[str] = []
    async with client.app[keys.pool].acquire() as conn:
        conn.add_query_logger(lambda record: statements.append(record.query))
    return client, statements


async def count(statements: list[str], request) -> int:
    """Statements the request ran (the hub's excepted)."""
    before = len(statements)
    resp = await request
    assert resp.status < 300, await resp.text()
    return len([s for s in statements[before:] if s not in HUB])


async def test_a_send_is_one_statement_and_a_known_caller_needs_none(watched):
    client, statements = watched
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    await befriend(client, alice, bob)
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    chat_id = (await resp.json())["id"]
    send = f"/v1/chats/{chat_id}/messages"
    await client.get("/v1/users/me", headers=alice.headers)  # alice's token is now known
    # asyncpg asks for the array types a statement's parameters use, once per connection.
    await client.post(send, json={"body": "warm-up"}, headers=alice.headers)

    assert await count(statements, client.get("/v1/users/me", headers=alice.headers)) == 0
    body = {"body": "hi", "client_id": "c1"}
    assert await count(statements, client.post(send, json=body, headers=alice.headers)) == 1
    # A retry of the same client_id too.
    assert await count(statements, client.post(send, json=body, headers=alice.headers)) == 1
    assert await count(statements, client.get(send, headers=alice.headers)) == 1
    assert await count(statements, client.get("/v1/chats", headers=alice.headers)) == 1


async def test_a_revoked_token_is_refused_at_once_though_it_was_known(watched):
    client, _ = watched
    alice = await sign_up(client, "alice")
    assert (await client.get("/v1/users/me", headers=alice.headers)).status == 200
    assert (await client.delete("/v1/tokens/current", headers=alice.headers)).status == 204
    assert (await client.get("/v1/users/me", headers=alice.headers)).status == 401


async def test_a_token_revoked_on_one_process_is_refused_by_another_that_knew_it(client, settings):
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CHAAT_SECRET_KEY": settings.secret_key,
    }
    other, base = await start_chaat(env)
    try:
        await sign_up(client, "alice")
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                resp = await client.post(
                    "/v1/tokens", json={"username": "alice", "password": PASSWORD}
                )
                headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
                for _ in range(2):  # the other process now knows the token
                    async with session.get(f"{base}/v1/users/me", headers=headers) as resp:
                        assert resp.status == 200
                assert (await client.delete("/v1/tokens/current", headers=headers)).status == 204
                # Refused there by the very next request: the revoking request
                # answers once every process's listener confirmed it forgot the token.
                async with session.get(f"{base}/v1/users/me", headers=headers) as resp:
                    assert resp.status == 401
    finally:
        other.terminate()
        await asyncio.wait_for(other.wait(), 10)
