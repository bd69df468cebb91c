"""/v1/events: the live event stream, as a WebSocket or as Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated

import pydantic
from aiohttp import WSMsgType, web

from chaat import auth, errors, hub, keys
from chaat.auth import Caller
from chaat.validation import Query, parse_query

AUTH_TIMEOUT = 10.0
HEARTBEAT = 20.0
"""Seconds between WebSocket pings; a client that does not answer is dropped."""


class Follow(Query):
    since: Annotated[int, pydantic.Field(ge=0, le=2**63 - 1)] | None = None


async def follow(request: web.Request) -> web.StreamResponse:
    """WebSocket when the request upgrades, else Server-Sent Events (so `curl -N` works)."""
    header = request.headers.get("Authorization")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=64 * 1024)
    if not ws.can_prepare(request).ok:
        listener = await auth.authenticate(request.app, auth.bearer_token(header))
        return await _serve_sse(request, listener, _since(request, sse=True))
    # A bad Authorization header is refused before the upgrade; no header at all
    # means the token comes in the first frame (browsers cannot set headers).
    by_header = await auth.authenticate(request.app, auth.bearer_token(header)) if header else None
    since = _since(request, sse=False)
    await ws.prepare(request)
    caller = by_header or await _first_frame_auth(request, ws)
    if caller is not None:
        await _serve_websocket(request, ws, caller, since)
    return ws


def _since(request: web.Request, *, sse: bool) -> int | None:
    """Where to resume: ?since=, or for SSE the standard Last-Event-ID header; 422 if malformed."""
    last_event_id = request.headers.get("Last-Event-ID", "").strip() if sse else ""
    if not last_event_id:
        return parse_query(request, Follow).since
    try:
        return Follow.model_validate({"since": last_event_id}).since
    except pydantic.ValidationError:
        raise errors.ValidationError(
            "Last-Event-ID must be an event id.",
            [{"field": "Last-Event-ID", "problem": "not an event id", "value": last_event_id}],
        ) from None


async def _first_frame_auth(request: web.Request, ws: web.WebSocketResponse) -> Caller | None:
    """The caller named by an {"type": "authenticate", "token"} first frame, else close 1008."""
    try:
        msg = await ws.receive(timeout=AUTH_TIMEOUT)
        payload = json.loads(msg.data) if msg.type == WSMsgType.TEXT else None
        if not (isinstance(payload, dict) and payload.get("type") == "authenticate"):
            raise errors.Unauthorized()
        token = payload.get("token")
        return await auth.authenticate(request.app, token if isinstance(token, str) else None)
    except (TimeoutError, ValueError, RecursionError, errors.Unauthorized):
        await ws.close(code=hub.POLICY_VIOLATION, message=b"authentication required")
        return None


class _WebSocketSink:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, event_id: int | None, type: str, data: str) -> None:
        await self.ws.send_str(hub.frame(event_id, type, data))

    async def idle(self) -> None:
        pass  # aiohttp's heartbeat pings on its own


class _SseSink:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response

    async def send(self, event_id: int | None, type: str, data: str) -> None:
        head = "" if event_id is None else f"id: {event_id}\n"
        await self.response.write(f"{head}event: {type}\ndata: {data}\n\n".encode())

    async def idle(self) -> None:
        await self.response.write(b": keep-alive\n\n")


def _subscriber(caller: Caller) -> hub.Subscriber:
    return hub.Subscriber(user_id=caller.id, token_id=caller.token_id, expires_at=caller.expires_at)


async def _serve_websocket(
    request: web.Request, ws: web.WebSocketResponse, caller: Caller, since: int | None
) -> None:
    ready = json.dumps({"user": caller.json})
    feeding = asyncio.create_task(
        _feed(request.app[keys.hub], ws, _subscriber(caller), since, ready)
    )
    try:
        # Reading keeps pings, pongs and the client's close flowing; clients have nothing
        # to say. It ends when the client goes, or when the feed closes the socket.
        async for _ in ws:
            pass
    finally:  # also when this handler is cancelled
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding


async def _feed(
    hub_: hub.Hub,
    ws: web.WebSocketResponse,
    subscriber: hub.Subscriber,
    since: int | None,
    ready: str,
) -> None:
    """Follow the stream into the socket; when the server ends it, close with its reason."""
    try:
        await hub_.follow(subscriber, since, _WebSocketSink(ws), ready)
    except hub.Kicked as kicked:
        await ws.close(code=kicked.code, message=kicked.reason.encode())
    except ConnectionError:
        pass  # the client went away mid-send: the reader sees it too
    except errors.Unavailable:
        await ws.close(code=hub.TRY_AGAIN_LATER, message=b"database unavailable: resume later")
    else:
        await ws.close()


async def _serve_sse(request: web.Request, caller: Caller, since: int | None) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    ready = json.dumps({"user": caller.json})
    with contextlib.suppress(hub.Kicked, ConnectionError):
        await request.app[keys.hub].follow(_subscriber(caller), since, _SseSink(response), ready)
    return response
