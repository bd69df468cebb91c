"""The baseline Chaat is measured against: the thinnest honest aiohttp + asyncpg server
doing the same database work as Chaat's hot paths, with no authentication and no checks,
on the same event loop as Chaat (uvloop).

- POST /send/{chat_id} {"sender_id", "body"}: one INSERT (seq from the chat's row in the
  same statement), answers the message, and pushes it to the chat's listeners in process.
- GET /history/{chat_id}?limit=N: one indexed SELECT of the newest N messages.
- GET /listen/{chat_id}: a WebSocket that receives the chat's messages.
- POST /login {"password"}: one Argon2 verification, in a worker thread, against
  PASSWORD_HASH (made by bench/compare.py with Chaat's parameters, which verification
  reads from the hash); no database.

It keeps its tables in a schema of its own (`baseline`), so it can share a database
with Chaat. Run by bench/compare.py:

    python bench/baseline.py DSN PORT PASSWORD_HASH [PROCESSES]

PROCESSES (default 1), as Chaat's --workers: that many processes share the port
(SO_REUSEPORT) and the 10 connections, as Chaat's workers do. Then a send with
?everywhere (the fan-out workloads') reaches the listeners of every process through
PostgreSQL: the same statement NOTIFYs the message, which each process hears on its
own LISTEN connection and pushes to its listeners. The send workload has no listeners
and sends without it, as Chaat notifies no process that has no streams.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import signal
import sys
import weakref

import argon2
import asyncpg
from aiohttp import web

from chaat.protocol import new_event_loop

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS baseline;
CREATE TABLE IF NOT EXISTS baseline.chat (
    id       bigint PRIMARY KEY,
    last_seq bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS baseline.message (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id    bigint NOT NULL,
    seq        bigint NOT NULL,
    sender_id  bigint NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (chat_id, seq)
);
"""

_WRITE = """
WITH c AS (
    INSERT INTO baseline.chat AS c (id, last_seq) VALUES ($1, 1)
    ON CONFLICT (id) DO UPDATE SET last_seq = c.last_seq + 1
    RETURNING last_seq),
m AS (
    INSERT INTO baseline.message (chat_id, seq, sender_id, body)
    SELECT $1, c.last_seq, $2, $3 FROM c
    RETURNING json_build_object('id', id, 'chat_id', chat_id, 'seq', seq,
                                'sender_id', sender_id, 'body', body,
                                'created_at', created_at)::text AS message)
"""
SEND = _WRITE + "SELECT message FROM m"
SEND_TO_ALL = _WRITE + "SELECT message, pg_notify('baseline', $1::text || ' ' || message) FROM m"
"""With more than one process: the send, and the message to every process's listeners."""

POOL_SIZE = 10
"""Connections, shared by the processes as Chaat's CHAAT_POOL_SIZE is (chaat.server)."""

HISTORY = """
SELECT coalesce(json_agg(m ORDER BY m.seq), '[]')::text FROM (
    SELECT id, chat_id, seq, sender_id, body, created_at FROM baseline.message
    WHERE chat_id = $1 ORDER BY seq DESC LIMIT $2) m
"""

dsn_key = web.AppKey("dsn", str)
password_hash_key = web.AppKey("password_hash", str)
pool_key = web.AppKey("pool", asyncpg.Pool)
listeners_key = web.AppKey("listeners", dict)
processes_key = web.AppKey("processes", int)
pushes_key = web.AppKey("pushes", set)
verifier = argon2.PasswordHasher()  # verify() takes the parameters from the hash


async def send(request: web.Request) -> web.Response:
    chat_id = int(request.match_info["chat_id"])
    body = await request.json()
    here_only = request.app[processes_key] == 1 or "everywhere" not in request.query
    async with request.app[pool_key].acquire() as conn:
        message = await conn.fetchval(
            SEND if here_only else SEND_TO_ALL, chat_id, body["sender_id"], body["body"]
        )
    if here_only:
        await push(request.app, chat_id, message)
    return web.Response(text=message, content_type="application/json", status=201)


async def push(app: web.Application, chat_id: int, message: str) -> None:
    for ws in list(app[listeners_key].get(chat_id, ())):
        await ws.send_str(message)


def hear(app: web.Application, payload: str) -> None:
    """A message sent through any process (SEND_TO_ALL): to this process's listeners."""
    chat_id, _, message = payload.partition(" ")
    task = asyncio.ensure_future(push(app, int(chat_id), message))
    app[pushes_key].add(task)
    task.add_done_callback(app[pushes_key].discard)


async def history(request: web.Request) -> web.Response:
    chat_id = int(request.match_info["chat_id"])
    limit = int(request.query.get("limit", "50"))
    async with request.app[pool_key].acquire() as conn:
        items = await conn.fetchval(HISTORY, chat_id, limit)
    return web.Response(text=f'{{"items": {items}}}', content_type="application/json")


async def listen(request: web.Request) -> web.WebSocketResponse:
    chat_id = int(request.match_info["chat_id"])
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    request.app[listeners_key].setdefault(chat_id, weakref.WeakSet()).add(ws)
    await ws.send_str(json.dumps({"type": "ready"}))
    async for _ in ws:
        pass
    return ws


async def log_in(request: web.Request) -> web.Response:
    password = (await request.json())["password"]
    try:
        await asyncio.to_thread(verifier.verify, request.app[password_hash_key], password)
    except argon2.exceptions.VerificationError:
        raise web.HTTPUnauthorized() from None
    return web.json_response({"token": secrets.token_urlsafe(32)}, status=201)


async def database(app: web.Application):  # type: ignore[no-untyped-def]
    # Chaat's setting too (chaat/db.py): each prepared statement planned once.
    processes = app[processes_key]
    pool = await asyncpg.create_pool(
        app[dsn_key],
        min_size=1,
        max_size=max(2, math.ceil(POOL_SIZE / processes)),
        server_settings={"plan_cache_mode": "force_generic_plan"},
    )
    app[pool_key] = pool
    listener = None
    if processes > 1:
        listener = await asyncpg.connect(app[dsn_key])
        await listener.add_listener("baseline", lambda *args: hear(app, args[-1]))
    yield
    if listener is not None:
        await listener.close()
    await pool.close()


def create_app(dsn: str, password_hash: str, processes: int = 1) -> web.Application:
    app = web.Application()
    app[dsn_key] = dsn
    app[password_hash_key] = password_hash
    app[processes_key] = processes
    app[listeners_key] = {}
    app[pushes_key] = set()
    app.cleanup_ctx.append(database)
    app.add_routes(
        [
            web.post("/send/{chat_id}", send),
            web.get("/history/{chat_id}", history),
            web.get("/listen/{chat_id}", listen),
            web.post("/login", log_in),
        ]
    )
    return app


async def create_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


def serve(dsn: str, port: int, password_hash: str, processes: int) -> None:
    # The event loop Chaat runs on (chaat.protocol.new_event_loop): the same stack.
    web.run_app(
        create_app(dsn, password_hash, processes),
        host="127.0.0.1",
        port=port,
        print=None,
        reuse_port=processes > 1,
        loop=new_event_loop(),
    )


def main() -> None:
    dsn, port, password_hash, *more = sys.argv[1:]
    processes = int(more[0]) if more else 1
    asyncio.run(create_schema(dsn))
    if processes == 1:
        serve(dsn, int(port), password_hash, processes)
        return
    # Forked, as the parent has started nothing: each child makes its own loop and pool.
    children: list[int] = []

    def stop(_signum: int, _frame: object) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(dsn, int(port), password_hash, processes)
            os._exit(0)
        children.append(pid)
    for child in children:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
