"""Nobody reaches into other people's chats, messages, requests or blocks.

Alice and bob are friends with a direct chat and a group, messages, a reaction, a
pending friend request and a block. Carol is neither their friend nor in their chats.
For every route that takes an id or a username, read from chaat.routes so that a new
one cannot be left out, carol tries it with alice's and bob's ids: she gets the answer
API.md gives a stranger (404, as if the thing did not exist; 403 where the contract says
so) and the database is as it was. Routes where a stranger may act are in the table too,
each with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import User, befriend, new_chat, sign_up

from chaat.routes import routes

THUMBS_UP = "%F0%9F%91%8D"
NOT_FOUND = (404, "not_found")
NOT_FRIENDS = (403, "not_friends")

IGNORED_TABLES = {
    "auth_token": "carol's own login",
    "rate_limit": "carol's requests spend her own rate limits",
    "event_horizon": "where event ids start, moved by the first event after PostgreSQL starts",
}
"""Tables carol's own requests may change; every other row of every table must stay."""


@dataclass
class World:
    """Everything carol must not touch."""

    alice: User
    bob: User
    carol: User
    erin: User
    """Blocked by alice."""
    direct: int
    """Alice and bob's direct chat; seq 1 is alice's, bob reacted to it."""
    group: int
    """Alice's group with bob; seq 1 is bob's, alice reacted to it."""
    pending: int
    """Alice's friend request to dave, still pending."""
    accepted: int
    """Alice's friend request to bob, accepted."""


@dataclass(frozen=True)
class Try:
    """One of carol's requests, and the answer the contract gives her."""

    params: dict[str, Any]
    expect: tuple[int, str]
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Allowed:
    """A route where carol acts on her own behalf: not an authorization failure."""

    reason: str
    params: Callable[[World], dict[str, Any]]
    status: int
    changes: frozenset[str] = field(default_factory=frozenset)
    """Tables her action may change (her own rows)."""


@dataclass(frozen=True)
class Exempt:
    """A route whose parameter names nobody's id or name."""

    reason: str


def in_both_chats(w: World, *, body: dict[str, Any] | None = None, **params: Any) -> list[Try]:
    """The same request in alice and bob's direct chat and in their group: 404 for both."""
    return [Try({"chat_id": chat, **params}, NOT_FOUND, body) for chat in (w.direct, w.group)]


MATRIX: dict[tuple[str, str], Callable[[World], list[Try]] | Allowed | Exempt] = {
    ("GET", "/v1/users/{user}"): Allowed(
        "users are no secret: GET /v1/users lists everyone to every user",
        lambda w: {"user": w.alice.username},
        200,
    ),
    ("POST", "/v1/users/{user}/messages"): lambda w: [
        # API.md: sending needs the two to be friends (403 not_friends); no chat is made.
        Try({"user": w.alice.username}, NOT_FRIENDS, {"body": "hello, stranger"}),
        Try({"user": w.bob.id}, NOT_FRIENDS, {"body": "hello, stranger"}),
    ],
    # API.md: only the recipient may answer a request and only the sender may withdraw
    # it; anyone else gets 404, whether it is pending or not.
    ("PATCH", "/v1/friend-requests/{request_id}"): lambda w: [
        Try({"request_id": w.pending}, NOT_FOUND, {"status": "accepted"}),
        Try({"request_id": w.accepted}, NOT_FOUND, {"status": "rejected"}),
    ],
    ("DELETE", "/v1/friend-requests/{request_id}"): lambda w: [
        Try({"request_id": w.pending}, NOT_FOUND),
        Try({"request_id": w.accepted}, NOT_FOUND),
    ],
    # Ending a friendship one is not part of: "404 when not friends".
    ("DELETE", "/v1/friends/{user_id}"): lambda w: [
        Try({"user_id": w.alice.id}, NOT_FOUND),
        Try({"user_id": w.bob.id}, NOT_FOUND),
    ],
    ("PUT", "/v1/blocks/{user}"): Allowed(
        "anyone may block anyone: it is the caller's own list (only hers changes)",
        lambda w: {"user": w.alice.username},
        204,
        frozenset({"user_block"}),
    ),
    # Alice blocks erin; that block is not carol's to lift ("404 not_found when not blocked").
    ("DELETE", "/v1/blocks/{user}"): lambda w: [Try({"user": w.erin.username}, NOT_FOUND)],
    # API.md: "A chat the caller does not take part in answers 404, as if it did not exist,
    # for every chat path" - before any 403 or 422 about what the chat is.
    ("GET", "/v1/chats/{chat_id}"): in_both_chats,
    ("PATCH", "/v1/chats/{chat_id}"): lambda w: in_both_chats(w, body={"name": "Carol's now"}),
    ("GET", "/v1/chats/{chat_id}/participants"): in_both_chats,
    ("POST", "/v1/chats/{chat_id}/participants"): lambda w: in_both_chats(
        w, body={"user": w.carol.username}
    ),
    ("DELETE", "/v1/chats/{chat_id}/participants/{user_id}"): lambda w: [
        *in_both_chats(w, user_id=w.bob.id),
        *in_both_chats(w, user_id=w.carol.id),
    ],
    ("GET", "/v1/chats/{chat_id}/messages"): in_both_chats,
    ("POST", "/v1/chats/{chat_id}/messages"): lambda w: in_both_chats(
        w, body={"body": "let me in"}
    ),
    ("GET", "/v1/chats/{chat_id}/messages/{seq}"): lambda w: in_both_chats(w, seq=1),
    ("PATCH", "/v1/chats/{chat_id}/messages/{seq}"): lambda w: in_both_chats(
        w, seq=1, body={"body": "edited by carol"}
    ),
    ("DELETE", "/v1/chats/{chat_id}/messages/{seq}"): lambda w: in_both_chats(w, seq=1),
    ("PUT", "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"): lambda w: in_both_chats(
        w, seq=1, emoji=THUMBS_UP
    ),
    ("DELETE", "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"): lambda w: in_both_chats(
        w, seq=1, emoji=THUMBS_UP
    ),
    ("POST", "/v1/chats/{chat_id}/read"): lambda w: in_both_chats(w, body={"seq": 1}),
    ("POST", "/v1/chats/{chat_id}/typing"): in_both_chats,
    ("GET", "/static/{path}"): Exempt("the web client's files: public, outside the API"),
}


def parametrized_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every route in chaat.routes whose path has a parameter."""
    app = web.Application()
    app.router.add_routes(routes)
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None and "{" in route.resource.canonical
    }


def test_every_route_with_a_parameter_is_in_the_matrix() -> None:
    missing = parametrized_routes() - set(MATRIX)
    assert not missing, f"say what a stranger gets from these, in MATRIX: {sorted(missing)}"
    stale = set(MATRIX) - parametrized_routes()
    assert not stale, f"MATRIX names routes that chaat.routes no longer has: {sorted(stale)}"


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every table (but IGNORED_TABLES), as sorted JSON text."""
    tables = await conn.fetchval(
        "SELECT array_agg(table_name::text) FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    return {
        table: sorted(await conn.fetchval(f'SELECT array_agg(t::text) FROM "{table}" t') or [])
        for table in sorted(tables)
        if table not in IGNORED_TABLES
    }


@pytest.fixture
async def world(client: TestClient) -> World:
    """Alice and bob's friendship, chats, messages, reactions, requests and block."""
    alice, bob, carol, dave, erin = [
        await sign_up(client, name) for name in ("alice", "bob", "carol", "dave", "erin")
    ]
    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    accepted = (await resp.json())["id"]
    resp = await client.patch(
        f"/v1/friend-requests/{accepted}", json={"status": "accepted"}, headers=bob.headers
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post("/v1/friend-requests", json={"to": "dave"}, headers=alice.headers)
    assert resp.status == 201, await resp.text()
    pending = (await resp.json())["id"]
    resp = await client.put("/v1/blocks/erin", headers=alice.headers)
    assert resp.status == 204, await resp.text()
    # Carol has friends and chats of her own: she is a user like any other.
    await befriend(client, carol, dave)
    await new_chat(client, carol, ["dave"], message="hi dave")

    direct = (await new_chat(client, alice, ["bob"], message="hi bob"))["id"]
    group = (await new_chat(client, alice, ["bob"], name="Plans"))["id"]
    resp = await client.post(
        f"/v1/chats/{group}/messages", json={"body": "when?"}, headers=bob.headers
    )
    assert resp.status == 201, await resp.text()
    for chat, reacter in ((direct, bob), (group, alice)):
        resp = await client.put(
            f"/v1/chats/{chat}/messages/1/reactions/{THUMBS_UP}", headers=reacter.headers
        )
        assert resp.status == 200, await resp.text()
        resp = await client.post(f"/v1/chats/{chat}/read", json={"seq": 1}, headers=bob.headers)
        assert resp.status == 204, await resp.text()
    return World(alice, bob, carol, erin, direct, group, pending=pending, accepted=accepted)


def path_of(route: str, params: dict[str, Any]) -> str:
    return route.format(**{name: str(value) for name, value in params.items()})


@pytest.mark.parametrize(
    "route",
    sorted(key for key, entry in MATRIX.items() if not isinstance(entry, Allowed | Exempt)),
    ids=" ".join,
)
async def test_a_stranger_gets_nothing_and_changes_nothing(
    client: TestClient, conn: asyncpg.Connection, world: World, route: tuple[str, str]
) -> None:
    method, path = route
    entry = MATRIX[route]
    assert callable(entry)
    before = await snapshot(conn)
    for attempt in entry(world):
        resp = await client.request(
            method,
            path_of(path, attempt.params),
            json=attempt.body,
            headers=world.carol.headers,
        )
        answer = await resp.json()
        assert resp.status == attempt.expect[0], (attempt, answer)
        assert answer["error"]["code"] == attempt.expect[1], (attempt, answer)
        if attempt.expect == NOT_FOUND:
            # Not even the message may tell that it exists: the answer is the one for ids
            # that were never used.
            nowhere = {
                name: 2**62 if name.endswith("_id") else value
                for name, value in attempt.params.items()
            }
            resp = await client.request(
                method, path_of(path, nowhere), json=attempt.body, headers=world.carol.headers
            )
            assert (resp.status, await resp.json()) == (404, answer), attempt
    assert await snapshot(conn) == before


@pytest.mark.parametrize(
    "route",
    sorted(key for key, entry in MATRIX.items() if isinstance(entry, Allowed)),
    ids=" ".join,
)
async def test_what_a_stranger_may_do_changes_only_her_own_rows(
    client: TestClient, conn: asyncpg.Connection, world: World, route: tuple[str, str]
) -> None:
    method, path = route
    entry = MATRIX[route]
    assert isinstance(entry, Allowed)
    before = await snapshot(conn)
    resp = await client.request(
        method, path_of(path, entry.params(world)), headers=world.carol.headers
    )
    assert resp.status == entry.status, (entry.reason, await resp.text())
    after = await snapshot(conn)
    assert {t: rows for t, rows in after.items() if t not in entry.changes} == {
        t: rows for t, rows in before.items() if t not in entry.changes
    }
