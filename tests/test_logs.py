"""What `chaat serve` logs, at its most talkative, never holds a password, a token or a
message body (issue 11), whatever the clients send: right and wrong logins, bodies that
break the rules, bad JSON, and HTTP that aiohttp itself refuses (a control byte in the
Authorization header, a header line past aiohttp's 8190 bytes), each carrying a secret.

The whole suite is scanned too (tests/log_scan.py); this drives the real server, with
its own logging set-up, through the paths where a secret is most likely to slip out.
"""

from __future__ import annotations

import asyncio
import json
import sys
from urllib.parse import urlsplit

import aiohttp
import pytest
from conftest import PASSWORD, ROOT
from log_scan import MARKER_BODY, TOKEN, leaks

sys.path.insert(0, str(ROOT / "bench"))
import faults

pytestmark = pytest.mark.timeout(60)


async def raw_request(base: str, head: bytes, body: bytes = b"") -> int:
    """Send bytes no HTTP client would, on a connection of their own; the answer's status."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        return int(answer.split(b" ", 2)[1])
    finally:
        writer.close()


async def test_the_server_logs_no_password_token_or_body_even_at_debug(database_url):
    server = await faults.serve(database_url, log_level="DEBUG")
    try:
        async with aiohttp.ClientSession(server.base) as http:

            async def call(method: str, path: str, expect: int, **kwargs: object) -> object:
                async with http.request(method, path, **kwargs) as resp:  # type: ignore[arg-type]
                    assert resp.status == expect, await resp.text()
                    return await resp.json() if resp.content_type == "application/json" else None

            tokens = {}
            for name in ("alice", "bob"):
                body = {"username": name, "password": PASSWORD}
                await call("POST", "/v1/users", 201, json=body)
                session = await call("POST", "/v1/tokens", 201, json=body)
                assert isinstance(session, dict)
                tokens[name] = session["token"]
            alice = {"Authorization": f"Bearer {tokens['alice']}"}
            bob = {"Authorization": f"Bearer {tokens['bob']}"}
            assert TOKEN.fullmatch(tokens["alice"]), "log_scan.TOKEN must match a real token"

            # Logins and passwords that fail, each its own way.
            wrong = {"username": "alice", "password": PASSWORD + " wrong"}
            await call("POST", "/v1/tokens", 401, json=wrong)
            unknown = {"username": "nobody", "password": PASSWORD}
            await call("POST", "/v1/tokens", 401, json=unknown)
            await call("POST", "/v1/users", 422, json={"username": "x", "password": PASSWORD})
            await call("POST", "/v1/users", 409, json={"username": "alice", "password": PASSWORD})
            change = {"old_password": PASSWORD + " wrong", "new_password": PASSWORD + " new"}
            await call("PUT", "/v1/users/me/password", 401, json=change, headers=alice)

            # Message bodies: sent, edited, too long, and in JSON that does not parse.
            request = await call(
                "POST", "/v1/friend-requests", 201, json={"to": "bob"}, headers=alice
            )
            assert isinstance(request, dict)
            accept = {"status": "accepted"}
            await call(
                "PATCH", f"/v1/friend-requests/{request['id']}", 200, json=accept, headers=bob
            )
            chat = await call(
                "POST",
                "/v1/chats",
                201,
                json={"participants": ["bob"], "message": MARKER_BODY},
                headers=alice,
            )
            assert isinstance(chat, dict)
            messages = f"/v1/chats/{chat['id']}/messages"
            await call("POST", messages, 201, json={"body": MARKER_BODY}, headers=alice)
            await call(
                "PATCH", f"{messages}/1", 200, json={"body": MARKER_BODY + "!"}, headers=alice
            )
            await call("POST", messages, 422, json={"body": MARKER_BODY * 200}, headers=alice)
            await call(
                "POST", messages, 422, json={"body": MARKER_BODY, "extra": PASSWORD}, headers=alice
            )
            broken = f'{{"body": "{MARKER_BODY}", "password": "{PASSWORD}"'.encode()
            headers = {**alice, "Content-Type": "application/json"}
            await call("POST", messages, 400, data=broken, headers=headers)

            # A token where it goes (the first frame of a WebSocket), and where it does
            # not: in the URL (tokens are never accepted there), under another scheme,
            # forged.
            async with http.ws_connect("/v1/events") as ws:
                await ws.send_str(json.dumps({"type": "authenticate", "token": tokens["bob"]}))
                ready = await ws.receive(timeout=10)
                assert json.loads(ready.data)["type"] == "ready"
            await call(
                "GET", "/v1/users/me", 401, headers={"Authorization": f"Basic {tokens['bob']}"}
            )
            await call("GET", f"/v1/users/me?token={tokens['bob']}", 401)
            forged = tokens["bob"][:-3] + "AAA"
            await call("GET", "/v1/users/me", 401, headers={"Authorization": f"Bearer {forged}"})

        # HTTP that aiohttp's parser refuses before Chaat sees it.
        host = f"Host: {urlsplit(server.base).netloc}\r\n".encode()
        control = (
            b"GET /v1/users/me HTTP/1.1\r\n"
            + host
            + b"Authorization: Bearer \x01"
            + tokens["alice"].encode()
            + b"\r\n\r\n"
        )
        assert await raw_request(server.base, control) == 400
        long_line = (
            b"GET /v1/users/me HTTP/1.1\r\n"
            + host
            + b"Authorization: Bearer "
            + tokens["alice"].encode()
            + b" "
            + b"a" * 9000
            + b"\r\n\r\n"
        )
        assert await raw_request(server.base, long_line) in (400, 431)
        body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
        control_in_body = (
            b"POST /v1/tokens HTTP/1.1\r\n"
            + host
            + b"Content-Type: application/json\r\n"
            + b"Content-Length: "
            + str(len(body) + 1).encode()
            + b"\r\nX-Odd: \x7f\r\n\r\n"
        )
        await raw_request(server.base, control_in_body, body + b"\x00")
    finally:
        exit_code = await server.stop()
    log = "".join(server.log.lines)
    # The scan means something only if the server was talking: the access log and
    # chaat's own records at DEBUG.
    assert "aiohttp.access" in log, log[-2000:]
    assert exit_code == 0, log[-2000:]
    found = leaks(log)
    assert not found, "\n".join(["the server logged secrets (masked here):", *found])
