"""GET /v1/health, and how the server answers when something goes wrong on its side."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from conftest import befriend, error_of, sign_up

from chaat.app import create_app


async def test_health_is_ok_without_a_token(client):
    resp = await client.get("/v1/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


class Relay:
    """A TCP relay in front of PostgreSQL that a test can cut and restore, like a network."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        query = dict(parse_qsl(parts.query))
        host, port = query.pop("host", parts.hostname), query.pop("port", parts.port or 5432)
        self._upstream_socket = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else None
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._port = 0
        self._parts = parts._replace(query=urlencode(query))

    @property
    def url(self) -> str:
        userinfo = self._parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self._port}" if userinfo else f"127.0.0.1:{self._port}"
        return urlunsplit(self._parts._replace(netloc=netloc))

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
        for writer in self._links:
            writer.transport.abort()
        self._links.clear()
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._upstream_socket:
            up_reader, up_writer = await asyncio.open_unix_connection(self._upstream_socket)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._links.discard(writer)


async def test_health_and_every_request_are_503_while_the_database_is_unreachable(
    settings, database_url, aiohttp_client
):
    relay = Relay(database_url)
    await relay.start()
    try:
        client = await aiohttp_client(create_app(replace(settings, database_url=relay.url)))
        alice = await sign_up(client, "alice")
        assert (await client.get("/v1/health")).status == 200

        await relay.cut()
        resp = await client.get("/v1/health")
        assert resp.status == 503
        assert (await resp.json())["status"] == "unavailable"
        resp = await client.get("/v1/users/me", headers=alice.headers)
        assert await error_of(resp) == (503, "unavailable")
        resp = await client.post("/v1/tokens", json={"username": "alice", "password": "x" * 8})
        assert await error_of(resp) == (503, "unavailable")

        await relay.start()
        resp = await client.get("/v1/health")
        assert (resp.status, await resp.json()) == (200, {"status": "ok"})
        assert (await client.get("/v1/users/me", headers=alice.headers)).status == 200
    finally:
        await relay.cut()


async def test_a_bug_answers_500_without_details_and_logs_a_request_id(
    settings, aiohttp_client, caplog
):
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app = create_app(settings)
    app.router.add_get("/v1/broken", broken)
    client = await aiohttp_client(app)
    alice = await sign_up(client, "alice")

    with caplog.at_level(logging.ERROR):
        resp = await client.get("/v1/broken", headers=alice.headers)
        traced = await client.get("/v1/broken", headers=alice.headers | {"X-Request-Id": "req-77"})

    for answer in (resp, traced):
        assert await error_of(answer) == (500, "internal_error")
        text = await answer.text()
        assert "secret internals" not in text
        assert "Traceback" not in text
        assert "RuntimeError" not in text
    records = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(records) == 2
    assert re.search(r"request [0-9a-f]{16}\b", records[0].getMessage())
    assert "req-77" in records[1].getMessage()
    assert "/v1/broken" in records[0].getMessage()


async def test_head_works_wherever_get_does_without_a_token(client):
    # Load balancers often check health with HEAD; the Allow header promises it too.
    for path in ("/v1/health", "/v1/openapi.json"):
        resp = await client.head(path)
        assert resp.status == 200, path
    resp = await client.head("/v1/users/me")
    assert resp.status == 401


async def test_a_listener_hears_every_acknowledged_message_while_the_database_keeps_dropping(
    settings, database_url, aiohttp_client, conn
):
    relay = Relay(database_url)
    await relay.start()
    try:
        client = await aiohttp_client(create_app(replace(settings, database_url=relay.url)))
        alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
        await befriend(client, alice, bob)
        resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
        chat_id = (await resp.json())["id"]
        ws = await client.ws_connect("/v1/events", headers=bob.headers)
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
        received: list[dict] = []

        async def listen() -> None:
            async for msg in ws:
                event = json.loads(msg.data)
                if event["type"] == "message.created":
                    received.append(event)

        listening = asyncio.create_task(listen())
        acknowledged: list[dict] = []
        deadline = asyncio.get_running_loop().time() + 3

        async def send() -> None:
            n = 0
            while asyncio.get_running_loop().time() < deadline:
                n += 1
                resp = await client.post(
                    f"/v1/chats/{chat_id}/messages", json={"body": f"m{n}"}, headers=alice.headers
                )
                if resp.status == 201:
                    acknowledged.append(await resp.json())
                else:  # refused while the database was gone: never acknowledged
                    assert await error_of(resp) == (503, "unavailable")
                    await asyncio.sleep(0.01)

        async def keep_dropping() -> None:
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.3)
                await relay.cut()
                await asyncio.sleep(0.2)
                await relay.start()

        await asyncio.gather(send(), send(), keep_dropping())
        assert len(acknowledged) > 20
        # What was stored: every acknowledged message, and maybe a few whose 503 came
        # after the commit (the connection dropped before the answer got back).
        rows = await conn.fetch(
            "SELECT seq FROM message WHERE chat_sesh_id = $1 ORDER BY seq", chat_id
        )
        stored = [r["seq"] for r in rows]
        assert {m["seq"] for m in acknowledged} <= set(stored)
        for _ in range(200):  # the hub catches up once the database is back
            if len(received) >= len(stored):
                break
            await asyncio.sleep(0.05)
        # Every one of them arrives, once, in order.
        assert [e["data"]["seq"] for e in received] == stored
        assert [e["id"] for e in received] == sorted({e["id"] for e in received})
        assert (await client.get("/v1/health")).status == 200
        listening.cancel()
    finally:
        await relay.cut()
