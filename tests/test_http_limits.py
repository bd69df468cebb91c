"""What the HTTP layer bounds and how it fails: malformed requests answered in the
envelope and logged without their bytes, slow clients cut off, one access log line per
request, long query strings, streams per user, the wait for a database connection."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from dataclasses import replace

import aiohttp
import pytest
from conftest import befriend, error_of, sign_up, start_chaat

from chaat import db, hub, keys
from chaat.app import create_app

TOKEN = "chaat_" + "S3cretTokenBytes" * 2


@pytest.fixture
async def served(settings):
    """A real `chaat serve` (aiohttp's own parser, our connection handler) logging at
    INFO into a file: (base URL, a function answering what it logged so far)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CHAAT_SECRET_KEY": settings.secret_key,
        "CHAAT_HEAD_TIMEOUT": "2",
        "CHAAT_BODY_TIMEOUT": "1",
    }
    with tempfile.TemporaryFile("w+") as log:
        server, base = await start_chaat(env, log_level="INFO", stderr=log)

        def logged() -> str:
            log.seek(0)
            return log.read()

        yield base, logged
        server.terminate()
        await server.wait()


async def exchange(base: str, data: bytes, *, within: float = 10) -> tuple[bytes, float]:
    """Send raw bytes, read one answer or until the server closes: (what came back,
    seconds it took)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    writer.write(data)
    async with asyncio.timeout(within):
        answer = await reader.read(65536)
        while answer and b"\r\n\r\n" not in answer:
            answer += await reader.read(65536)
        if answer:
            length = int(re.search(rb"Content-Length: (\d+)", answer)[1])
            while len(answer.partition(b"\r\n\r\n")[2]) < length:
                answer += await reader.read(65536)
    took = time.monotonic() - started
    writer.close()
    return answer, took


def head_and_json(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    code = re.search(rb'"code": "(\w+)"', body)
    assert code, answer
    return status, code[1].decode()


@pytest.mark.parametrize(
    "request_head",
    [
        f"GET /v1/users/me HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\x01\r\n".encode(),
        f"GET /v1/users/me HTTP/1.1\r\nAuthorization: Bearer {TOKEN}{'A' * 9000}\r\n".encode(),
        f"GET /v1/users/me?{'q=' * 5000} HTTP/1.1\r\nX-Token: {TOKEN}\r\n".encode(),
    ],
    ids=["control byte", "header over 8 KiB", "request line over 8 KiB"],
)
async def test_a_malformed_request_gets_the_envelope_and_its_bytes_are_not_logged(
    served, request_head
):
    base, logged = served
    answer, _ = await exchange(base, request_head + b"Host: x\r\n\r\n")
    assert head_and_json(answer) == (400, "bad_request")
    await asyncio.sleep(0.2)
    assert "malformed request from 127.0.0.1" in logged()
    assert "S3cretTokenBytes" not in logged()
    assert "Traceback" not in logged()


async def test_a_slow_request_head_is_cut_off(served):
    base, _ = served
    answer, took = await exchange(base, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
    assert answer == b""  # nothing to answer: the connection is closed
    assert 1.5 < took < 6


async def test_a_slow_body_gets_408(served):
    base, _ = served
    head = b"POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    answer, took = await exchange(base, head + b'{"username": ')
    assert head_and_json(answer) == (408, "request_timeout")
    assert 0.5 < took < 5


async def test_each_request_is_one_log_line_with_its_route_and_no_query(served):
    base, logged = served
    async with aiohttp.ClientSession() as session:
        await session.post(
            f"{base}/v1/users", json={"username": "alice", "password": "a secret phrase"}
        )
        resp = await session.post(
            f"{base}/v1/tokens", json={"username": "alice", "password": "a secret phrase"}
        )
        alice = await resp.json()
        await session.get(
            f"{base}/v1/messages?q=secretwords",
            headers={"Authorization": f"Bearer {alice['token']}", "X-Request-Id": "req-42"},
        )
    await asyncio.sleep(0.2)
    lines = [line for line in logged().splitlines() if "request=req-42" in line]
    assert len(lines) == 1, logged()
    assert re.search(
        rf"request=req-42 method=GET route=/v1/messages status=200 ms=[\d.]+"
        rf" user={alice['user']['id']} address=127.0.0.1$",
        lines[0],
    ), lines[0]
    assert "secretwords" not in logged()
    assert "a secret phrase" not in logged()
    assert alice["token"] not in logged()


async def test_a_long_query_string_is_refused(client, alice):
    resp = await client.get("/v1/users?q=" + "a" * 2100, headers=alice.headers)
    assert await error_of(resp) == (422, "validation_error")


async def test_opening_more_streams_than_allowed_closes_the_oldest(client, alice, bob):
    first = await client.ws_connect("/v1/events", headers=alice.headers)
    others = [
        await client.ws_connect("/v1/events", headers=alice.headers)
        for _ in range(hub.MOST_STREAMS - 1)
    ]
    bobs = await client.ws_connect("/v1/events", headers=bob.headers)
    for ws in (first, *others, bobs):
        assert (await ws.receive_json())["type"] == "ready"
    newest = await client.ws_connect("/v1/events", headers=alice.headers)
    assert (await newest.receive_json())["type"] == "ready"
    closed = await first.receive(timeout=5)
    assert closed.type == aiohttp.WSMsgType.CLOSE
    assert closed.data == hub.POLICY_VIOLATION
    assert "streams" in closed.extra
    # The others, and other users' streams, stay open and live.
    await befriend(client, alice, bob)
    for ws in (*others, newest, bobs):
        event = await ws.receive_json(timeout=5)
        assert event["type"].startswith("friend_request."), event
    for ws in (*others, newest, bobs):
        await ws.close()


async def test_no_free_database_connection_is_a_503_not_a_hang(
    aiohttp_client, settings, monkeypatch
):
    monkeypatch.setattr(db, "ACQUIRE_TIMEOUT", 0.5)
    client = await aiohttp_client(create_app(replace(settings, pool_size=1)))
    alice = await sign_up(client, "alice")
    async with client.app[keys.pool].acquire():  # the only connection, busy
        started = time.monotonic()
        resp = await client.get("/v1/chats", headers=alice.headers)
        assert await error_of(resp) == (503, "unavailable")
        assert time.monotonic() - started < 3
    resp = await client.get("/v1/chats", headers=alice.headers)
    assert resp.status == 200
