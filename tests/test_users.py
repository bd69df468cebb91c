"""Signing up, and finding users: POST /v1/users, GET /v1/users[/me|/{user}]."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PASSWORD, TIMESTAMP, error_of, problem_fields, sign_up

USER_FIELDS = {"id", "username", "display_name", "created_at"}


def assert_user(user, username):
    """A user object: exactly the public fields, a recent RFC 3339 UTC timestamp."""
    assert set(user) == USER_FIELDS
    assert user["username"] == username
    assert isinstance(user["id"], int)
    assert user["id"] > 0
    assert TIMESTAMP.fullmatch(user["created_at"]), user["created_at"]
    created = datetime.fromisoformat(user["created_at"])
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


async def post_user(client, **body):
    return await client.post("/v1/users", json={"password": PASSWORD} | body)


# Signing up


async def test_sign_up_answers_the_new_user_and_nothing_more(client):
    resp = await post_user(client, username="alice", display_name="Alice A.")
    assert resp.status == 201
    user = await resp.json()
    assert_user(user, "alice")
    assert user["display_name"] == "Alice A."


async def test_display_name_defaults_to_the_username(client):
    resp = await post_user(client, username="Alice")
    assert (await resp.json())["display_name"] == "Alice"


async def test_display_name_is_stored_exactly_as_sent(client):
    # Up to 64 characters, counted as code points: 64 emoji are 64 characters.
    names = ["  padded  ", "e\u0301t\u00e9", "tab\there", "🙂" * 64, "x" * 64]
    for i, display_name in enumerate(names):
        resp = await post_user(client, username=f"user{i}", display_name=display_name)
        assert resp.status == 201, display_name
        assert (await resp.json())["display_name"] == display_name
        login = {"username": f"user{i}", "password": PASSWORD}
        resp = await client.post("/v1/tokens", json=login)
        assert (await resp.json())["user"]["display_name"] == display_name


async def test_display_name_longer_than_64_characters_is_refused(client):
    resp = await post_user(client, username="alice", display_name="x" * 65)
    assert await problem_fields(resp) == {"display_name"}


async def test_valid_usernames_are_accepted_and_shown_as_registered(client):
    for username in ["abc", "A" * 32, "a_b", "a.b", "a-b", "Z09", "x__", "Alice.Smith-2"]:
        resp = await post_user(client, username=username)
        assert resp.status == 201, username
        assert (await resp.json())["username"] == username


INVALID_USERNAMES = [
    "ab",  # too short
    "a" * 33,  # too long
    "1abc",  # must start with a letter
    "_abc",
    ".abc",
    "-abc",
    "ab c",
    "abc!",
    "ab@c",
    "ålice",  # letters are A-Z only
    "alice\n",
    "",
]


async def test_invalid_usernames_are_refused(client, conn):
    for username in INVALID_USERNAMES:
        resp = await post_user(client, username=username)
        assert await problem_fields(resp) == {"username"}, username
    assert await conn.fetchval("SELECT count(*) FROM app_user") == 0


async def test_usernames_are_unique_regardless_of_case(client):
    assert (await post_user(client, username="alice")).status == 201
    for taken in ("alice", "Alice", "ALICE"):
        assert await error_of(await post_user(client, username=taken)) == (409, "username_taken")


async def test_a_username_keeps_the_case_it_was_registered_with(client, alice):
    await post_user(client, username="BoB")
    resp = await client.get("/v1/users/bob", headers=alice.headers)
    assert (await resp.json())["username"] == "BoB"


async def test_passwords_of_8_to_256_characters_are_accepted(client):
    # Characters are code points: 8 emoji are 8 characters, however many bytes.
    for i, password in enumerate(["zq8!vk2m", "🙂" * 8, "x" * 256, " " * 8]):
        resp = await post_user(client, username=f"user{i}", password=password)
        assert resp.status == 201, password
        login = {"username": f"user{i}", "password": password}
        assert (await client.post("/v1/tokens", json=login)).status == 201, password


async def test_passwords_outside_8_to_256_characters_are_refused(client):
    for password in ["", "1234567", "🙂" * 7, "x" * 257]:
        resp = await post_user(client, username="alice", password=password)
        assert await problem_fields(resp) == {"password"}, password


@pytest.mark.parametrize("password", ["password123", "Sunshine1", "QWERTYUIOP", "12345678"])
async def test_the_most_common_passwords_are_refused_in_any_case(client, conn, password):
    resp = await post_user(client, username="alice", password=password)
    assert await problem_fields(resp) == {"password"}
    assert "common" in (await resp.json())["error"]["message"]
    assert await conn.fetchval("SELECT count(*) FROM app_user") == 0


async def test_a_password_equal_to_the_username_is_refused(client):
    resp = await post_user(client, username="Alice.Smith", password="alice.smith")
    assert await problem_fields(resp) == {"password"}
    assert "username" in (await resp.json())["error"]["message"]


async def test_a_new_password_follows_the_same_rules(client):
    charlotte = await sign_up(client, "charlotte9")
    for new in ("password123", "CHARLOTTE9"):
        resp = await client.put(
            "/v1/users/me/password",
            json={"old_password": PASSWORD, "new_password": new},
            headers=charlotte.headers,
        )
        assert await problem_fields(resp) == {"new_password"}, new


async def test_a_refused_password_is_not_echoed_back(client):
    resp = await post_user(client, username="alice", password="hunter2")
    await problem_fields(resp)
    assert "hunter2" not in await resp.text()


async def test_missing_fields_are_named(client):
    resp = await client.post("/v1/users", json={})
    assert await problem_fields(resp) == {"username", "password"}


async def test_concurrent_signups_of_one_name_make_one_account(client, conn):
    names = ["dave", "Dave", "DAVE", "dAvE", "dave", "Dave", "daVe", "DAve"]
    resps = await asyncio.gather(*(post_user(client, username=name) for name in names))
    statuses = sorted(r.status for r in resps)
    assert statuses == [201] + [409] * (len(names) - 1)
    for resp in resps:
        if resp.status == 409:
            assert await error_of(resp) == (409, "username_taken")
    count = await conn.fetchval("SELECT count(*) FROM app_user WHERE lower(username) = 'dave'")
    assert count == 1


# Me and other users


async def test_me_is_the_caller(client, alice, bob):
    resp = await client.get("/v1/users/me", headers=bob.headers)
    assert resp.status == 200
    user = await resp.json()
    assert_user(user, "bob")
    assert user["id"] == bob.id


async def test_a_user_can_be_found_by_username_in_any_case_or_by_id(client, alice, bob):
    for ref in ("bob", "BOB", "Bob", str(bob.id)):
        resp = await client.get(f"/v1/users/{ref}", headers=alice.headers)
        assert resp.status == 200, ref
        user = await resp.json()
        assert_user(user, "bob")
        assert user["id"] == bob.id


async def test_an_unknown_user_is_404_user_not_found(client, alice):
    refs = ["nobody", "999", "0", "-1", "99999999999999999999", "9" * 400, "1e3", "x", "%00"]
    for ref in refs:
        resp = await client.get(f"/v1/users/{ref}", headers=alice.headers)
        assert await error_of(resp) == (404, "user_not_found"), ref


# Listing users


async def list_users(client, user, query=""):
    resp = await client.get(f"/v1/users{query}", headers=user.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"items", "has_more"}
    for item in body["items"]:
        assert set(item) == USER_FIELDS
    return [u["username"] for u in body["items"]], body["has_more"]


async def test_list_shows_every_user_by_id_ascending(client, alice, bob, carol):
    assert await list_users(client, alice) == (["alice", "bob", "carol"], False)


async def test_list_filters_by_username_prefix_regardless_of_case(client, alice):
    for name in ("Alfred", "albert", "bob", "xal"):
        await post_user(client, username=name)
    assert await list_users(client, alice, "?q=al") == (["alice", "Alfred", "albert"], False)
    assert await list_users(client, alice, "?q=AL") == (["alice", "Alfred", "albert"], False)
    assert await list_users(client, alice, "?q=alf") == (["Alfred"], False)
    assert await list_users(client, alice, "?q=zz") == ([], False)


@pytest.mark.parametrize(("q", "found"), [("a_", ["a_b"]), ("a%25", []), ("a%5C", [])])
async def test_list_prefix_matches_literally_not_as_a_pattern(client, alice, q, found):
    for name in ("a_b", "axb", "abc"):
        await post_user(client, username=name)
    assert await list_users(client, alice, f"?q={q}") == (found, False)


async def test_list_pages_with_after_and_limit(client, alice):
    names = [f"user{i:02}" for i in range(7)]
    for name in names:
        await post_user(client, username=name)
    everyone = ["alice", *names]
    assert await list_users(client, alice, "?limit=3") == (everyone[:3], True)
    ids = [
        u["id"]
        for u in (await (await client.get("/v1/users", headers=alice.headers)).json())["items"]
    ]
    assert ids == sorted(ids)
    assert await list_users(client, alice, f"?limit=3&after={ids[2]}") == (everyone[3:6], True)
    assert await list_users(client, alice, f"?limit=3&after={ids[5]}") == (everyone[6:], False)
    assert await list_users(client, alice, f"?limit=2&after={ids[5]}") == (everyone[6:], False)
    assert await list_users(client, alice, f"?after={ids[-1]}") == ([], False)
    assert await list_users(client, alice, "?after=9223372036854775807") == ([], False)


async def test_list_limit_defaults_to_50_and_goes_up_to_200(client, conn, alice):
    # Inserted directly: 200 signups through the API would only test Argon2's speed.
    await conn.execute(
        "INSERT INTO app_user (username, display_name, password_hash)"
        " SELECT 'user' || i, 'user' || i, 'x' FROM generate_series(1, 210) AS i"
    )
    names, has_more = await list_users(client, alice)
    assert (len(names), has_more) == (50, True)
    names, has_more = await list_users(client, alice, "?limit=200")
    assert (len(names), has_more) == (200, True)
    names, has_more = await list_users(client, alice, "?limit=1")
    assert (names, has_more) == (["alice"], True)


async def test_list_parameters_out_of_range_or_of_the_wrong_type_are_422(client, alice):
    queries = [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "limit=",
        "after=-1",
        "after=abc",
        "after=99999999999999999999",  # past bigint: no id can be that large
        "q=%00",  # PostgreSQL text cannot hold NUL
        "q=" + "a" * 33,  # no username is that long
    ]
    for query in queries:
        resp = await client.get(f"/v1/users?{query}", headers=alice.headers)
        assert await problem_fields(resp) == {query.partition("=")[0]}, query
