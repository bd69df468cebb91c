"""Rate limits: 429 `rate_limited` with Retry-After, counted atomically in the database,
per user, and per client address for logins and signups (chaat/limits.py)."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace

import pytest
from conftest import PASSWORD, befriend, error_of, new_chat, sign_up

from chaat import keys, limits
from chaat.app import create_app
from chaat.limits import Rate
from chaat.settings import ConfigError, Settings

PROXY = (ipaddress.ip_network("127.0.0.1/32"),)
"""The tests' client is 127.0.0.1: trusted, so X-Forwarded-For plays other addresses."""


def rates(**changed: Rate) -> dict[str, Rate]:
    return {**limits.DEFAULT_RATES, **changed}


@pytest.fixture
def limited(aiohttp_client, settings):
    """A client of a server whose limits are on, with some rates changed."""

    async def make(**changed: Rate):
        return await aiohttp_client(
            create_app(replace(settings, rate_limits=rates(**changed), trusted_proxies=PROXY))
        )

    return make


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def log_in(client, username, password, address="192.0.2.1"):
    return await client.post(
        "/v1/tokens",
        json={"username": username, "password": password},
        headers=from_address(address),
    )


async def test_parallel_wrong_passwords_pass_the_limit_no_more_than_it_allows(limited):
    client = await limited(login_account=Rate(5, 300))
    await sign_up(client, "alice")
    answers = await asyncio.gather(*(log_in(client, "alice", f"guess{n:04}") for n in range(50)))
    statuses = sorted(resp.status for resp in answers)
    assert statuses == [401] * 5 + [429] * 45
    refused = next(resp for resp in answers if resp.status == 429)
    assert await error_of(refused) == (429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60  # one unit back every 300/5 s


async def test_guessing_from_one_address_does_not_lock_the_owner_out_elsewhere(limited):
    client = await limited(login_account=Rate(3, 300))
    await sign_up(client, "alice")
    for _ in range(3):
        assert (await log_in(client, "ALICE", "guess1234", "203.0.113.9")).status == 401
    # The guesser is refused now, even with the right password...
    assert (await log_in(client, "alice", PASSWORD, "203.0.113.9")).status == 429
    # ...while the owner, from home, is not.
    assert (await log_in(client, "alice", PASSWORD, "198.51.100.4")).status == 201


async def test_one_address_guessing_many_accounts_is_limited_too(limited):
    client = await limited(login_address=Rate(4, 600))
    for n in range(4):
        assert (await log_in(client, f"user{n}", "guess1234")).status == 401
    assert (await log_in(client, "user9", "guess1234")).status == 429
    assert (await log_in(client, "user9", "guess1234", "192.0.2.2")).status == 401


async def test_a_successful_login_gives_back_what_its_attempt_spent(limited):
    client = await limited(login_account=Rate(3, 300), login_address=Rate(4, 600))
    await sign_up(client, "alice")
    for _ in range(2):
        assert (await log_in(client, "alice", "guess1234")).status == 401
    assert (await log_in(client, "alice", PASSWORD)).status == 201
    # The account's failures are forgotten (2 more may fail, not 1)...
    for _ in range(2):
        assert (await log_in(client, "alice", "guess1234")).status == 401
    # ...and the right login cost the address nothing: 4 failures spent its 4.
    assert (await log_in(client, "bob", "guess1234")).status == 429


async def test_forwarded_for_counts_only_from_a_trusted_proxy(aiohttp_client, settings):
    client = await aiohttp_client(
        create_app(replace(settings, rate_limits=rates(login_account=Rate(2, 300))))
    )
    for address in ("192.0.2.1", "192.0.2.2"):
        assert (await log_in(client, "alice", "guess1234", address)).status == 401
    assert (await log_in(client, "alice", "guess1234", "192.0.2.3")).status == 429


async def test_sends_and_edits_have_a_burst_then_a_steady_rate(limited, conn):
    client = await limited(message=Rate(5, 2))  # 5 at once, then one every 0.4 s
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    url = f"/v1/chats/{chat['id']}/messages"

    answers = await asyncio.gather(
        *(client.post(url, json={"body": f"m{n}"}, headers=alice.headers) for n in range(12))
    )
    assert sorted(resp.status for resp in answers) == [201] * 5 + [429] * 7
    assert await conn.fetchval("SELECT count(*) FROM message") == 5
    # An edit spends from the same allowance; bob's is his own.
    resp = await client.patch(f"{url}/1", json={"body": "edited"}, headers=alice.headers)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) == 1
    assert (await client.post(url, json={"body": "hi"}, headers=bob.headers)).status == 201
    await asyncio.sleep(0.5)
    assert (await client.patch(f"{url}/1", json={"body": "x"}, headers=alice.headers)).status == 200


async def test_a_send_over_the_limit_answers_429_before_its_own_errors(limited, conn):
    """A send spends its unit in the statement that sends; one refused before it gets
    there (a bad body, a bad chat id) spends it too, and 429 still ranks first."""
    client = await limited(message=Rate(2, 3600))
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    await befriend(client, alice, bob)
    url = f"/v1/chats/{(await new_chat(client, alice, ['bob']))['id']}/messages"
    assert (await client.post(url, json={"body": ""}, headers=alice.headers)).status == 422
    assert (await client.post(url, json={"body": "hi"}, headers=alice.headers)).status == 201
    for path, body in ((url, {"body": "hi"}), (url, {"body": ""}), ("/v1/chats/x/messages", {})):
        resp = await client.post(path, json=body, headers=alice.headers)
        assert await error_of(resp) == (429, "rate_limited")
    assert await conn.fetchval("SELECT count(*) FROM message") == 1


async def test_limits_hold_across_server_processes(aiohttp_client, settings):
    """Two apps on one database share the counts: they are kept in PostgreSQL."""
    both = replace(settings, rate_limits=rates(signup=Rate(3, 3600)), trusted_proxies=PROXY)
    one, two = await aiohttp_client(create_app(both)), await aiohttp_client(create_app(both))
    statuses = []
    for n in range(6):
        resp = await (one, two)[n % 2].post(
            "/v1/users",
            json={"username": f"user{n}", "password": PASSWORD},
            headers=from_address("192.0.2.7"),
        )
        statuses.append(resp.status)
    assert statuses == [201, 201, 201, 429, 429, 429]


@pytest.mark.parametrize(
    ("name", "request_for"),
    [
        ("friend_request", lambda alice: ("POST", "/v1/friend-requests", {"to": "nobody1"})),
        ("search", lambda alice: ("GET", "/v1/messages?q=hello", None)),
        ("chat", lambda alice: ("POST", "/v1/chats", {"participants": []})),
    ],
)
async def test_other_writes_are_limited_per_user(limited, name, request_for):
    client = await limited(**{name: Rate(2, 3600)})
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    method, path, body = request_for(alice)
    for _ in range(2):  # refused or not, each try counts
        resp = await client.request(method, path, json=body, headers=alice.headers)
        assert resp.status != 429
    resp = await client.request(method, path, json=body, headers=alice.headers)
    assert await error_of(resp) == (429, "rate_limited")
    resp = await client.request(method, path, json=body, headers=bob.headers)
    assert resp.status != 429


async def test_with_limits_off_nothing_is_refused(aiohttp_client, settings):
    client = await aiohttp_client(create_app(replace(settings, rate_limits=None)))
    answers = await asyncio.gather(*(log_in(client, "alice", "guess1234") for _ in range(30)))
    assert {resp.status for resp in answers} == {401}


async def test_spent_keys_are_forgotten_once_their_allowance_is_back(limited, conn):
    client = await limited(login_account=Rate(1, 1))
    await log_in(client, "nobody", "guess1234")
    assert await conn.fetchval("SELECT count(*) FROM rate_limit") == 2
    await asyncio.sleep(1.1)
    await client.app[keys.limiter].prune()
    assert await conn.fetchval("SELECT count(*) FROM rate_limit") == 1  # the address's: 600 s


def test_every_limited_route_exists():
    app = create_app(Settings(database_url="postgresql://unused", secret_key="unused"))
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert set(limits.ROUTES) <= served


def test_limits_are_read_from_the_environment():
    settings = Settings.from_env({"CHAAT_RATE_LIMIT_MESSAGE": "100/60"})
    assert settings.rate_limits["message"] == Rate(100, 60)
    assert settings.rate_limits["signup"] == limits.DEFAULT_RATES["signup"]
    assert Settings.from_env({"CHAAT_RATE_LIMITS": "off"}).rate_limits is None
    proxies = Settings.from_env({"CHAAT_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies
    assert [str(p) for p in proxies] == ["10.0.0.0/8", "::1/128"]
    for env in (
        {"CHAAT_RATE_LIMITS": "maybe"},
        {"CHAAT_RATE_LIMIT_MESSAGE": "100"},
        {"CHAAT_RATE_LIMIT_MESSAGE": "0/60"},
        {"CHAAT_TRUSTED_PROXIES": "proxy.example"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(env)
