"""Requests that are broken: bad JSON, wrong types, unknown fields, odd ids, odd text.

Every answer here must be the JSON error envelope, and none may be a 500.
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD, error_of, problem_fields

# Raw bodies, so that what reaches the server is exactly what is written here.
NOT_JSON = [b"", b"{", b"{'username': 'alice'}", b"\xff\xfe", b"[" * 50_000, b"NaN", b"{}{}"]
NOT_AN_OBJECT = [b"[]", b'["alice"]', b'"alice"', b"42", b"true", b"null"]


async def test_a_body_that_is_not_json_is_400_invalid_json(client, alice):
    for path in ("/v1/users", "/v1/tokens", "/v1/friend-requests"):
        for raw in NOT_JSON:
            resp = await client.post(path, data=raw, headers=alice.headers)
            assert await error_of(resp) == (400, "invalid_json"), (path, raw[:20])


async def test_json_that_is_not_an_object_is_400_invalid_json(client, alice):
    for raw in NOT_AN_OBJECT:
        resp = await client.post("/v1/friend-requests", data=raw, headers=alice.headers)
        assert await error_of(resp) == (400, "invalid_json"), raw
        resp = await client.put("/v1/users/me/password", data=raw, headers=alice.headers)
        assert await error_of(resp) == (400, "invalid_json"), raw


def body_of_size(size: int) -> bytes:
    """A valid friend request body of exactly size bytes, naming nobody."""
    body = b'{"to": "' + b"x" * (size - 10) + b'"}'
    assert len(body) == size
    return body


async def test_a_body_over_64_kib_is_413(client, alice):
    big = body_of_size(64 * 1024 + 1)
    resp = await client.post("/v1/friend-requests", data=big, headers=alice.headers)
    assert await error_of(resp) == (413, "payload_too_large")
    resp = await client.post("/v1/users", data=big)
    assert await error_of(resp) == (413, "payload_too_large")


async def test_a_body_of_exactly_64_kib_is_read(client, alice):
    resp = await client.post(
        "/v1/friend-requests", data=body_of_size(64 * 1024), headers=alice.headers
    )
    assert await error_of(resp) == (404, "user_not_found")


async def test_unknown_fields_are_refused_and_named(client, alice):
    cases = [
        ("/v1/users", {"username": "bob", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ("/v1/tokens", {"username": "alice", "password": PASSWORD, "ttl": 10**9}, "ttl"),
        ("/v1/friend-requests", {"to": "bob", "status": "accepted"}, "status"),
    ]
    for path, body, field in cases:
        resp = await client.post(path, json=body, headers=alice.headers)
        assert await problem_fields(resp) == {field}, path
    resp = await client.put(
        "/v1/users/me/password",
        json={"old_password": PASSWORD, "new_password": "x" * 10, "user_id": 1},
        headers=alice.headers,
    )
    assert await problem_fields(resp) == {"user_id"}


async def test_fields_of_the_wrong_type_are_refused_and_named(client, alice):
    cases = [
        ("/v1/users", {"username": 5, "password": PASSWORD}, "username"),
        ("/v1/users", {"username": ["bob"], "password": PASSWORD}, "username"),
        ("/v1/users", {"username": "bob", "password": 12345678}, "password"),
        ("/v1/users", {"username": "bob", "password": PASSWORD, "display_name": 7}, "display_name"),
        ("/v1/tokens", {"username": "alice", "password": None}, "password"),
        ("/v1/friend-requests", {"to": True}, "to"),
        ("/v1/friend-requests", {"to": None}, "to"),
        ("/v1/friend-requests", {"to": 1.5}, "to"),
        ("/v1/friend-requests", {"to": {"id": 1}}, "to"),
        ("/v1/friend-requests", {"to": 0}, "to"),
        ("/v1/friend-requests", {"to": -3}, "to"),
    ]
    for path, body, field in cases:
        resp = await client.post(path, json=body, headers=alice.headers)
        assert await problem_fields(resp) == {field}, body


async def test_a_whole_number_is_an_integer_however_it_is_written(client, alice, bob, conn):
    # openapi.json's integers are JSON Schema's, where 2.0 and 2e0 are the integer 2: a
    # client whose JSON library writes every number with a point must not be refused.
    await conn.execute("UPDATE app_user SET is_admin = true WHERE id = $1", alice.id)
    resp = await client.post(
        "/v1/friend-requests", data=b'{"to": %d.0}' % bob.id, headers=alice.headers
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["to"]["id"] == bob.id
    resp = await client.post("/v1/invites", data=b'{"uses": 3e0}', headers=alice.headers)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["uses_left"] == 3
    resp = await client.post("/v1/invites", data=b'{"uses": 3.5}', headers=alice.headers)
    assert await problem_fields(resp) == {"uses"}


async def test_an_optional_field_given_as_null_is_one_left_out(client, alice, bob):
    # Clients may send back the nulls they are shown ("client_id": null in a message);
    # openapi.json says so for every optional field.
    resp = await client.post(
        "/v1/users", json={"username": "carol", "password": PASSWORD, "display_name": None}
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["display_name"] == "carol"
    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    resp = await client.patch(
        f"/v1/friend-requests/{(await resp.json())['id']}",
        json={"status": "accepted"},
        headers=bob.headers,
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post(
        "/v1/chats",
        json={"participants": ["bob"], "name": None, "kind": None, "message": None},
        headers=alice.headers,
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["kind"] == "direct"
    chat_id = (await resp.json())["id"]
    resp = await client.post(
        f"/v1/chats/{chat_id}/messages",
        json={"body": "hi", "client_id": None, "reply_to": None},
        headers=alice.headers,
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["client_id"] is None
    # A required field is not optional: null is a value, and not one of its type.
    resp = await client.post(f"/v1/chats/{chat_id}/read", json={"seq": None}, headers=bob.headers)
    assert await problem_fields(resp) == {"seq"}


async def test_a_422_names_every_offending_field(client):
    resp = await client.post("/v1/users", json={"username": "1x", "password": "short", "x": 1})
    assert await problem_fields(resp) == {"username", "password", "x"}


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"username": "ali\u0000ce", "password": "correct horse battery"}',
        rb'{"username": "alice", "password": "correct horse\u0000battery"}',
        rb'{"username": "alice", "password": "correct horse \ud800battery"}',
        rb'{"username": "alice", "password": "correct horse battery", "display_name": "A\u0000"}',
        rb'{"username": "alice", "password": "correct horse battery", "display_name": "\udfff"}',
        rb'{"username": "\ud800lice", "password": "correct horse battery"}',
    ],
)
async def test_nul_and_lone_surrogates_in_text_are_422(client, conn, raw):
    resp = await client.post("/v1/users", data=raw)
    assert (await problem_fields(resp)) <= {"username", "password", "display_name"}
    assert await conn.fetchval("SELECT count(*) FROM app_user") == 0


async def test_nul_and_lone_surrogates_elsewhere_are_never_a_500(client, alice):
    raws = [
        (client.post, "/v1/tokens", rb'{"username": "alice\u0000", "password": "x"}'),
        (client.post, "/v1/tokens", rb'{"username": "\ud800", "password": "\udc00"}'),
        (client.post, "/v1/friend-requests", rb'{"to": "bo\u0000b"}'),
        (client.post, "/v1/friend-requests", rb'{"to": "\ud800"}'),
        (client.post, "/v1/friend-requests", rb'{"\ud800": 1}'),
        (client.put, "/v1/users/me/password", rb'{"old_password": "\u0000", "new_password": "x"}'),
    ]
    for method, path, raw in raws:
        resp = await method(path, data=raw, headers=alice.headers)
        assert await problem_fields(resp), (path, raw)


async def test_a_surrogate_pair_is_one_ordinary_character(client):
    raw = rb'{"username": "alice", "password": "\ud83d\ude42\ud83d\ude42\ud83d\ude42\ud83d\ude42'
    raw += rb'\ud83d\ude42\ud83d\ude42\ud83d\ude42\ud83d\ude42", "display_name": "\ud83d\ude42"}'
    resp = await client.post("/v1/users", data=raw)
    assert resp.status == 201
    assert (await resp.json())["display_name"] == "🙂"
    resp = await client.post("/v1/tokens", json={"username": "alice", "password": "🙂" * 8})
    assert resp.status == 201


async def test_path_ids_that_are_not_positive_integers_are_404(client, alice):
    ids = ["abc", "0", "-1", "1.0", "1e3", "%20", "99999999999999999999", "9" * 500, "\u0661"]
    for bad in ids:
        for method, path in [
            (client.patch, f"/v1/friend-requests/{bad}"),
            (client.delete, f"/v1/friend-requests/{bad}"),
            (client.delete, f"/v1/friends/{bad}"),
        ]:
            resp = await method(path, json={"status": "accepted"}, headers=alice.headers)
            assert await error_of(resp) == (404, "not_found"), path


async def test_unknown_paths_and_methods_answer_in_the_envelope(client, alice):
    resp = await client.get("/v1/nothing-here", headers=alice.headers)
    assert await error_of(resp) == (404, "not_found")
    resp = await client.post("/v1/users/me", json={}, headers=alice.headers)
    assert await error_of(resp) == (405, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path", ["/nothing", "/v1", "/v1/v1/tokens", "/v1/chats/1/nothing", "/favicon.ico"]
)
async def test_an_unknown_path_is_404_before_authentication(client, path):
    # Not 401: a client pointed at the wrong base URL must learn that, not "log in".
    for method in (client.get, client.post):
        resp = await method(path)
        assert await error_of(resp) == (404, "not_found"), path
        assert path in (await resp.json())["error"]["message"]


async def test_a_wrong_method_is_405_before_the_body_and_the_token_are_read(client):
    for method, path, allowed in [
        ("PUT", "/v1/chats", "GET, HEAD, POST"),
        ("PUT", "/v1/health", "GET, HEAD"),
        ("DELETE", "/v1/users", "GET, HEAD, POST"),
        ("POST", "/v1/chats/1", "GET, HEAD, PATCH"),
    ]:
        # A body that is not JSON, and no token: the method still answers first.
        resp = await client.request(method, path, data=b"{not json")
        assert await error_of(resp) == (405, "method_not_allowed"), (method, path)
        assert resp.headers["Allow"] == allowed


# Which error answers when a request breaks several rules


async def test_bad_json_is_400_even_without_a_token(client):
    assert await error_of(await client.post("/v1/friend-requests", data=b"{")) == (
        400,
        "invalid_json",
    )
    assert await error_of(await client.put("/v1/users/me/password", data=b"[]")) == (
        400,
        "invalid_json",
    )


async def test_a_body_too_large_is_413_even_without_a_token(client):
    resp = await client.post("/v1/friend-requests", data=body_of_size(64 * 1024 + 1))
    assert await error_of(resp) == (413, "payload_too_large")


async def test_a_missing_token_comes_before_an_invalid_body(client):
    resp = await client.post("/v1/friend-requests", json={"to": True})
    assert await error_of(resp) == (401, "unauthorized")


async def test_an_invalid_body_comes_before_an_unknown_request(client, alice):
    resp = await client.patch(
        "/v1/friend-requests/999", json={"status": "maybe"}, headers=alice.headers
    )
    assert await problem_fields(resp) == {"status"}
    resp = await client.patch("/v1/friend-requests/abc", json={"x": 1}, headers=alice.headers)
    assert await problem_fields(resp) == {"status", "x"}


async def test_an_invalid_body_comes_before_a_forbidden_answer(client, alice, bob):
    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    request_id = (await resp.json())["id"]
    resp = await client.patch(
        f"/v1/friend-requests/{request_id}", json={"status": "maybe"}, headers=alice.headers
    )
    assert await problem_fields(resp) == {"status"}


async def test_a_forbidden_answer_comes_before_a_conflict(client, alice, bob):
    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    request_id = (await resp.json())["id"]
    resp = await client.patch(
        f"/v1/friend-requests/{request_id}", json={"status": "rejected"}, headers=bob.headers
    )
    assert resp.status == 200
    # The request is no longer pending, but alice may not answer it at all: 403, not 409.
    resp = await client.patch(
        f"/v1/friend-requests/{request_id}", json={"status": "accepted"}, headers=alice.headers
    )
    assert await error_of(resp) == (403, "forbidden")
    # Nor may bob withdraw it.
    resp = await client.delete(f"/v1/friend-requests/{request_id}", headers=bob.headers)
    assert await error_of(resp) == (403, "forbidden")


async def test_numbers_json_can_hold_but_no_field_takes_are_422_with_valid_json_back(client):
    for raw in (
        '{"username": "abcde", "password": "password1", "display_name": -1e999}',
        '{"username": ' + "1" * 5000 + ', "password": "password1"}',
    ):
        resp = await client.post(
            "/v1/users", data=raw, headers={"Content-Type": "application/json"}
        )
        assert resp.status == 422
        text = await resp.text()
        assert "Infinity" not in text
        assert (await resp.json())["error"]["code"] == "validation_error"


async def test_a_body_that_is_not_utf8_is_invalid_json(client):
    body = '{"username": "alice", "password": "password1"}'
    for raw in (body.encode("utf-16"), b"\xef\xbb\xbf" + body.encode()):
        resp = await client.post("/v1/users", data=raw)
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=1.0", "limit"),
        ("limit=%2B5", "limit"),
        ("limit=5_0", "limit"),
        ("limit=5&limit=6", "limit"),
        ("after=0x10", "after"),
    ],
)
async def test_query_numbers_are_plain_digits_given_once(client, alice, query, field):
    resp = await client.get(f"/v1/users?{query}", headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")
    assert [d["field"] for d in (await resp.json())["error"]["details"]] == [field]


async def test_query_booleans_are_true_or_false(client, alice):
    for value, status in (("yes", 422), ("1", 422), ("false", 200)):
        resp = await client.get(f"/v1/chats?all={value}", headers=alice.headers)
        assert resp.status == status, value
