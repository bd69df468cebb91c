"""openapi.json: a valid OpenAPI 3.1 document that matches the routes and the real answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import PASSWORD, User, befriend, error_of, new_chat, sign_up
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chaat.app import create_app
from chaat.handlers.meta import OPENAPI
from chaat.middlewares import PUBLIC
from chaat.settings import Settings

DOC: dict[str, Any] = json.loads(OPENAPI.read_text())
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# Documented in openapi.json but not registered in chaat/routes.py yet, while a route is being
# built: remove as they land (the test below fails once a PENDING route is registered).
PENDING: set[tuple[str, str]] = set()

SPEC_URI = "urn:chaat:openapi.json"
REGISTRY = Registry().with_resource(SPEC_URI, Resource(contents=DOC, specification=DRAFT202012))


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every (METHOD, path) the document describes, with its operation object."""
    return {
        (method.upper(), path): operation
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def app_routes() -> set[tuple[str, str]]:
    """Every (METHOD, path) of the API, as create_app registers them (the web client's
    page and files, outside /v1/, are not part of it)."""
    app = create_app(Settings(database_url="postgresql://unused", secret_key="unused"))
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and route.resource.canonical.startswith("/v1/")
    }


def pointer(*parts: str) -> str:
    """A JSON pointer into the document (RFC 6901 escaping)."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def resolve(json_pointer: str) -> tuple[str, dict[str, Any]]:
    """(pointer, node) of what json_pointer names, following local $refs."""
    resolver = REGISTRY.resolver()
    node = resolver.lookup(SPEC_URI + "#" + json_pointer).contents
    while "$ref" in node:
        json_pointer = node["$ref"].removeprefix("#")
        node = resolver.lookup(SPEC_URI + "#" + json_pointer).contents
    return json_pointer, node


def validator_at(json_pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": SPEC_URI + "#" + json_pointer},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


async def documented(resp: Any, method: str, path: str) -> Any:
    """resp's JSON body after checking its status and body against the document; None for 204."""
    operation = DOC["paths"][path][method.lower()]
    status = str(resp.status)
    assert status in operation["responses"], f"{method} {path} does not document {status}"
    where, response = resolve(pointer("paths", path, method.lower(), "responses", status))
    if "content" not in response:
        assert await resp.read() == b"", f"{method} {path} {status} documents no body"
        return None
    assert resp.content_type in response["content"], resp.content_type
    body = await resp.json()
    validator = validator_at(where + pointer("content", resp.content_type, "schema"))
    validator.validate(body)
    return body


# (a) A valid OpenAPI 3.1 document.


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1.")
    validate_spec(DOC)


@pytest.mark.parametrize("name", sorted(DOC["components"]["schemas"]))
def test_every_component_schema_is_valid_json_schema(name: str) -> None:
    Draft202012Validator.check_schema(DOC["components"]["schemas"][name])


def test_request_bodies_reject_unknown_fields() -> None:
    for (method, path), operation in operations().items():
        if "requestBody" in operation:
            _, schema = resolve(
                pointer("paths", path, method.lower(), "requestBody", "content")
                + pointer("application/json", "schema")
            )
            assert schema["additionalProperties"] is False, (method, path)


def test_public_endpoints_are_the_ones_the_server_lets_in() -> None:
    public = {key for key, op in operations().items() if op.get("security") == []}
    assert public == PUBLIC
    assert DOC["security"] == [{"bearerAuth": []}]
    for key, operation in operations().items():
        if key not in public:
            assert "401" in operation["responses"], key


def test_every_error_answer_is_the_envelope() -> None:
    envelope = "#/components/schemas/Error"
    for (method, path), operation in operations().items():
        for status in operation["responses"]:
            if int(status) < 400 or path == "/v1/health":
                continue
            _, resolved = resolve(pointer("paths", path, method.lower(), "responses", status))
            schema = resolved["content"]["application/json"]["schema"]
            assert schema.get("$ref") == envelope or {"$ref": envelope} in schema["allOf"], (
                method,
                path,
                status,
            )


def test_every_path_id_can_answer_404() -> None:
    for (method, path), operation in operations().items():
        if "{" in path:
            assert "404" in operation["responses"], (method, path)


# (b) Served as it is kept.


async def test_get_openapi_json_serves_the_file_without_a_token(client: TestClient) -> None:
    resp = await client.get("/v1/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == json.loads(OPENAPI.read_text())


# (c) The document and the routes agree.


def test_every_route_is_documented() -> None:
    undocumented = app_routes() - set(operations())
    assert not undocumented, f"add these to openapi.json: {sorted(undocumented)}"


def test_every_documented_path_is_served_or_pending() -> None:
    routes = app_routes()
    landed = PENDING & routes
    assert not landed, f"these routes landed: remove them from PENDING: {sorted(landed)}"
    stale = PENDING - set(operations())
    assert not stale, f"PENDING names routes openapi.json does not describe: {sorted(stale)}"
    missing = set(operations()) - PENDING - routes
    assert not missing, f"documented but not served: {sorted(missing)}"


# (d) Real answers match the documented schemas.


async def test_sign_up_and_log_in_answers_match(client: TestClient) -> None:
    resp = await client.post(
        "/v1/users",
        json={"username": "Alice", "password": PASSWORD, "display_name": "Alice Liddell"},
    )
    assert resp.status == 201
    user = await documented(resp, "POST", "/v1/users")
    assert user["username"] == "Alice"

    resp = await client.post("/v1/tokens", json={"username": "alice", "password": PASSWORD})
    assert resp.status == 201
    session = await documented(resp, "POST", "/v1/tokens")
    assert session["user"] == user

    resp = await client.post("/v1/tokens", json={"username": "alice", "password": "wrong-one"})
    assert await error_of(resp) == (401, "invalid_credentials")
    await documented(resp, "POST", "/v1/tokens")

    resp = await client.post("/v1/users", json={"username": "ALICE", "password": PASSWORD})
    assert await error_of(resp) == (409, "username_taken")
    await documented(resp, "POST", "/v1/users")


async def test_user_answers_match(client: TestClient, alice: User, bob: User) -> None:
    resp = await client.get("/v1/users", headers=alice.headers)
    assert resp.status == 200
    page = await documented(resp, "GET", "/v1/users")
    assert [u["username"] for u in page["items"]] == ["alice", "bob"]
    assert page["has_more"] is False

    resp = await client.get("/v1/users", params={"limit": "1"}, headers=alice.headers)
    assert (await documented(resp, "GET", "/v1/users"))["has_more"] is True

    resp = await client.get("/v1/users/me", headers=alice.headers)
    assert resp.status == 200
    await documented(resp, "GET", "/v1/users/me")

    resp = await client.get("/v1/users/BOB", headers=alice.headers)
    assert resp.status == 200
    assert (await documented(resp, "GET", "/v1/users/{user}"))["id"] == bob.id

    resp = await client.get("/v1/users/nobody", headers=alice.headers)
    assert await error_of(resp) == (404, "user_not_found")
    await documented(resp, "GET", "/v1/users/{user}")

    resp = await client.get("/v1/users/me")
    assert await error_of(resp) == (401, "unauthorized")
    await documented(resp, "GET", "/v1/users/me")


async def test_validation_errors_match(client: TestClient, alice: User) -> None:
    resp = await client.post(
        "/v1/users", json={"username": "1alice", "password": "short", "is_admin": True}
    )
    assert await error_of(resp) == (422, "validation_error")
    body = await documented(resp, "POST", "/v1/users")
    fields = {d["field"] for d in body["error"]["details"]}
    assert fields == {"username", "password", "is_admin"}

    resp = await client.get("/v1/users", params={"limit": "0"}, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")
    await documented(resp, "GET", "/v1/users")

    resp = await client.post("/v1/users", data=b"[1, 2]")
    assert await error_of(resp) == (400, "invalid_json")
    await documented(resp, "POST", "/v1/users")


async def test_friend_answers_match(client: TestClient, alice: User, bob: User) -> None:
    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    assert resp.status == 201
    request = await documented(resp, "POST", "/v1/friend-requests")
    assert request["status"] == "pending"
    assert request["responded_at"] is None

    resp = await client.post("/v1/friend-requests", json={"to": alice.id}, headers=alice.headers)
    assert await error_of(resp) == (422, "self_request")
    await documented(resp, "POST", "/v1/friend-requests")

    resp = await client.get("/v1/friend-requests", headers=bob.headers)
    assert resp.status == 200
    await documented(resp, "GET", "/v1/friend-requests")

    resp = await client.patch(
        f"/v1/friend-requests/{request['id']}", json={"status": "accepted"}, headers=alice.headers
    )
    assert await error_of(resp) == (403, "forbidden")
    await documented(resp, "PATCH", "/v1/friend-requests/{request_id}")

    resp = await client.patch(
        f"/v1/friend-requests/{request['id']}", json={"status": "accepted"}, headers=bob.headers
    )
    assert resp.status == 200
    assert (await documented(resp, "PATCH", "/v1/friend-requests/{request_id}"))[
        "status"
    ] == "accepted"

    resp = await client.get("/v1/friends", headers=alice.headers)
    assert resp.status == 200
    friends = await documented(resp, "GET", "/v1/friends")
    assert [f["user"]["id"] for f in friends["items"]] == [bob.id]

    resp = await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)
    assert resp.status == 204
    await documented(resp, "DELETE", "/v1/friends/{user_id}")


async def test_health_answer_matches(client: TestClient) -> None:
    resp = await client.get("/v1/health")
    assert resp.status == 200
    assert await documented(resp, "GET", "/v1/health") == {"status": "ok"}


async def test_log_out_answer_matches(client: TestClient) -> None:
    carol = await sign_up(client, "carol")
    resp = await client.delete("/v1/tokens/current", headers=carol.headers)
    assert resp.status == 204
    await documented(resp, "DELETE", "/v1/tokens/current")


async def test_chat_and_message_answers_match(
    client: TestClient, alice: User, bob: User, carol: User
) -> None:
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    dave = await sign_up(client, "dave")

    new = {"participants": ["bob"], "message": "hi bob", "client_id": "c-1"}
    resp = await client.post("/v1/chats", json=new, headers=alice.headers)
    assert resp.status == 201
    direct = await documented(resp, "POST", "/v1/chats")
    assert direct["kind"] == "direct"
    assert direct["last_message"]["body"] == "hi bob"
    resp = await client.post("/v1/chats", json=new, headers=alice.headers)
    assert resp.status == 200
    assert (await documented(resp, "POST", "/v1/chats"))["id"] == direct["id"]

    resp = await client.post(
        "/v1/chats", json={"participants": ["bob", "dave"], "name": "Crowd"}, headers=alice.headers
    )
    assert await error_of(resp) == (403, "not_friends")
    body = await documented(resp, "POST", "/v1/chats")
    assert body["error"]["details"][0]["value"] == "dave"

    group = {"participants": ["bob", carol.id], "name": "Trio"}
    resp = await client.post("/v1/chats", json=group, headers=alice.headers)
    assert resp.status == 201
    group_id = (await documented(resp, "POST", "/v1/chats"))["id"]
    resp = await client.patch(
        f"/v1/chats/{group_id}", json={"name": "Quartet"}, headers=bob.headers
    )
    assert resp.status == 200
    await documented(resp, "PATCH", "/v1/chats/{chat_id}")
    resp = await client.patch(
        f"/v1/chats/{direct['id']}", json={"name": "Duo"}, headers=bob.headers
    )
    assert await error_of(resp) == (422, "not_a_group")
    await documented(resp, "PATCH", "/v1/chats/{chat_id}")

    resp = await client.get("/v1/chats", headers=bob.headers)
    assert resp.status == 200
    assert len((await documented(resp, "GET", "/v1/chats"))["items"]) == 2
    resp = await client.get(f"/v1/chats/{group_id}", headers=carol.headers)
    assert resp.status == 200
    await documented(resp, "GET", "/v1/chats/{chat_id}")
    resp = await client.get(f"/v1/chats/{group_id}", headers=dave.headers)
    assert await error_of(resp) == (404, "not_found")
    await documented(resp, "GET", "/v1/chats/{chat_id}")
    resp = await client.get(f"/v1/chats/{group_id}/participants", headers=bob.headers)
    assert resp.status == 200
    await documented(resp, "GET", "/v1/chats/{chat_id}/participants")

    path = f"/v1/chats/{group_id}/messages"
    for n in range(3):
        resp = await client.post(
            path, json={"body": f"message {n}", "client_id": f"m-{n}"}, headers=bob.headers
        )
        assert resp.status == 201
        await documented(resp, "POST", "/v1/chats/{chat_id}/messages")
    resp = await client.post(
        path, json={"body": "message 0", "client_id": "m-0"}, headers=bob.headers
    )
    assert resp.status == 200
    assert (await documented(resp, "POST", "/v1/chats/{chat_id}/messages"))["seq"] == 1
    resp = await client.post(path, json={"body": " \n"}, headers=bob.headers)
    assert await error_of(resp) == (422, "empty_body")
    await documented(resp, "POST", "/v1/chats/{chat_id}/messages")

    resp = await client.get(path, params={"before": "3", "limit": "1"}, headers=alice.headers)
    assert resp.status == 200
    page = await documented(resp, "GET", "/v1/chats/{chat_id}/messages")
    assert [m["seq"] for m in page["items"]] == [2]
    assert page["has_more"] is True
    resp = await client.get(path, params={"before": "3", "after": "1"}, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")
    await documented(resp, "GET", "/v1/chats/{chat_id}/messages")

    resp = await client.post(f"/v1/chats/{group_id}/read", json={"seq": 2}, headers=alice.headers)
    assert resp.status == 204
    await documented(resp, "POST", "/v1/chats/{chat_id}/read")

    resp = await client.post("/v1/users/alice/messages", json={"body": "hi"}, headers=bob.headers)
    assert resp.status == 201
    assert (await documented(resp, "POST", "/v1/users/{user}/messages"))["chat_id"] == direct["id"]

    resp = await client.post(
        f"/v1/chats/{group_id}/participants", json={"user": "bob"}, headers=alice.headers
    )
    assert await error_of(resp) == (409, "already_participant")
    await documented(resp, "POST", "/v1/chats/{chat_id}/participants")
    resp = await client.delete(f"/v1/chats/{group_id}/participants/{carol.id}", headers=bob.headers)
    assert await error_of(resp) == (403, "forbidden")
    await documented(resp, "DELETE", "/v1/chats/{chat_id}/participants/{user_id}")
    resp = await client.delete(
        f"/v1/chats/{group_id}/participants/{carol.id}", headers=alice.headers
    )
    assert resp.status == 204
    await documented(resp, "DELETE", "/v1/chats/{chat_id}/participants/{user_id}")


async def test_event_frames_match(client: TestClient, alice: User, bob: User) -> None:
    events = validator_at("/components/schemas/Event")
    ws = await client.ws_connect("/v1/events", headers=bob.headers)
    try:
        ready = await ws.receive_json(timeout=5)
        events.validate(ready)
        assert ready["type"] == "ready"
        resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
        assert resp.status == 201
        created = await ws.receive_json(timeout=5)
        events.validate(created)
        assert created["type"] == "friend_request.created"
    finally:
        await ws.close()

    # Server-Sent Events carry the same event as `id:`, `event:` and `data:` lines.
    async with client.get(
        "/v1/events", params={"since": "0"}, headers={**bob.headers, "Accept": "text/event-stream"}
    ) as resp:
        assert resp.status == 200
        assert resp.content_type in DOC["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
        for expected in ("ready", "friend_request.created"):
            fields: dict[str, str] = {}
            while (line := (await resp.content.readline()).decode().rstrip("\n")) != "":
                if not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
            event: dict[str, Any] = {"type": fields["event"], "data": json.loads(fields["data"])}
            if "id" in fields:
                event["id"] = int(fields["id"])
            events.validate(event)
            assert event["type"] == expected

    resp = await client.get("/v1/events", headers={"Accept": "text/event-stream"})
    assert await error_of(resp) == (401, "unauthorized")
    await documented(resp, "GET", "/v1/events")


async def test_message_change_answers_and_events_match(
    client: TestClient, alice: User, bob: User
) -> None:
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    base = f"/v1/chats/{chat['id']}/messages"
    one, reactions = "/v1/chats/{chat_id}/messages/{seq}", f"{base}/1/reactions/%F0%9F%91%8D"
    reaction = "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"
    events = validator_at("/components/schemas/Event")
    ws = await client.ws_connect("/v1/events", headers=bob.headers)
    try:
        events.validate(await ws.receive_json(timeout=5))
        resp = await client.post(base, json={"body": "hi"}, headers=alice.headers)
        await documented(resp, "POST", "/v1/chats/{chat_id}/messages")
        resp = await client.post(base, json={"body": "re", "reply_to": 1}, headers=bob.headers)
        assert (await documented(resp, "POST", "/v1/chats/{chat_id}/messages"))["reply_to"] == 1
        resp = await client.post(base, json={"body": "re", "reply_to": 9}, headers=bob.headers)
        assert await error_of(resp) == (422, "validation_error")
        await documented(resp, "POST", "/v1/chats/{chat_id}/messages")
        for answer in (
            await client.get(f"{base}/1", headers=bob.headers),
            await client.get(f"{base}/9", headers=bob.headers),
            await client.patch(f"{base}/1", json={"body": "hello"}, headers=alice.headers),
            await client.patch(f"{base}/1", json={"body": "mine"}, headers=bob.headers),
            await client.patch(f"{base}/1", json={"body": ""}, headers=alice.headers),
        ):
            await documented(answer, answer.method, one)
        for answer in (
            await client.put(reactions, headers=bob.headers),
            await client.put(f"{base}/1/reactions/%20", headers=bob.headers),
            await client.delete(reactions, headers=bob.headers),
        ):
            await documented(answer, answer.method, reaction)
        resp = await client.post(
            f"/v1/chats/{chat['id']}/read", json={"seq": 2}, headers=bob.headers
        )
        assert resp.status == 204
        for answer in (
            await client.delete(f"{base}/2", headers=alice.headers),
            await client.delete(f"{base}/2", headers=bob.headers),
            await client.patch(f"{base}/2", json={"body": "back"}, headers=bob.headers),
            await client.get(f"{base}/2", headers=alice.headers),
        ):
            await documented(answer, answer.method, one)
        seen = set()
        while len(seen) < 3:  # message.created, message.updated and chat.read at least
            event = await ws.receive_json(timeout=5)
            events.validate(event)
            seen.add(event["type"])
        assert seen == {"message.created", "message.updated", "chat.read"}
    finally:
        await ws.close()
    resp = await client.get(f"/v1/chats/{chat['id']}/participants", headers=bob.headers)
    items = (await documented(resp, "GET", "/v1/chats/{chat_id}/participants"))["items"]
    assert {p["user"]["id"]: p["last_read_seq"] for p in items} == {alice.id: 1, bob.id: 2}


async def test_block_answers_match(client: TestClient, alice: User, bob: User) -> None:
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    for answer in (
        await client.put("/v1/blocks/bob", headers=alice.headers),
        await client.put("/v1/blocks/alice", headers=alice.headers),
        await client.put("/v1/blocks/nobody", headers=alice.headers),
    ):
        await documented(answer, "PUT", "/v1/blocks/{user}")
    resp = await client.get("/v1/blocks", headers=alice.headers)
    assert len((await documented(resp, "GET", "/v1/blocks"))["items"]) == 1
    for answer, method, path in (
        (
            await client.post("/v1/friend-requests", json={"to": "alice"}, headers=bob.headers),
            "POST",
            "/v1/friend-requests",
        ),
        (
            await client.post("/v1/users/alice/messages", json={"body": "x"}, headers=bob.headers),
            "POST",
            "/v1/users/{user}/messages",
        ),
        (
            await client.post(
                f"/v1/chats/{chat['id']}/messages", json={"body": "x"}, headers=bob.headers
            ),
            "POST",
            "/v1/chats/{chat_id}/messages",
        ),
    ):
        assert await error_of(answer) == (403, "blocked")
        await documented(answer, method, path)
    for answer in (
        await client.delete("/v1/blocks/bob", headers=alice.headers),
        await client.delete("/v1/blocks/bob", headers=alice.headers),
    ):
        await documented(answer, "DELETE", "/v1/blocks/{user}")


async def test_typing_answers_and_frames_match(client: TestClient, alice: User, bob: User) -> None:
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    events = validator_at("/components/schemas/Event")
    ws = await client.ws_connect("/v1/events", headers=bob.headers)
    try:
        events.validate(await ws.receive_json(timeout=5))
        resp = await client.post(f"/v1/chats/{chat['id']}/typing", headers=alice.headers)
        await documented(resp, "POST", "/v1/chats/{chat_id}/typing")
        notice = await ws.receive_json(timeout=5)
        events.validate(notice)
        assert notice["type"] == "typing"
    finally:
        await ws.close()
    for answer in (
        await client.post("/v1/chats/99/typing", headers=alice.headers),
        await client.post(f"/v1/chats/{chat['id']}/typing", json={"x": 1}, headers=alice.headers),
    ):
        await documented(answer, "POST", "/v1/chats/{chat_id}/typing")


async def test_search_answers_match(client: TestClient, alice: User, bob: User) -> None:
    await befriend(client, alice, bob)
    chat = await new_chat(client, alice, ["bob"])
    resp = await client.post(
        f"/v1/chats/{chat['id']}/messages", json={"body": "find me"}, headers=alice.headers
    )
    assert resp.status == 201
    for params, status in (
        ({"q": "fin"}, 200),
        ({"q": "fin", "chat": str(chat["id"]), "limit": "1"}, 200),
        ({"q": "fin", "chat": "999"}, 404),
        ({"q": "!!"}, 422),
    ):
        resp = await client.get("/v1/messages", params=params, headers=bob.headers)
        assert resp.status == status
        await documented(resp, "GET", "/v1/messages")


async def test_invite_answers_match(client: TestClient, alice: User, bob: User, conn) -> None:
    await conn.execute("UPDATE app_user SET is_admin = true WHERE id = $1", alice.id)
    for answer in (
        await client.post("/v1/invites", json={"uses": 2}, headers=alice.headers),
        await client.post("/v1/invites", json={}, headers=bob.headers),
        await client.post("/v1/invites", json={"uses": 0}, headers=alice.headers),
    ):
        await documented(answer, "POST", "/v1/invites")
    resp = await client.post(
        "/v1/users", json={"username": "carol", "password": PASSWORD, "invite": "x"}
    )
    await documented(resp, "POST", "/v1/users")
