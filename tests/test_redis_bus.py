"""CHAAT_REDIS_URL: server processes wake each other through Redis, each subscribed only
to what its own users need, and PostgreSQL stays the log that nothing is lost from.

Each test runs a Redis server of its own (Debian's redis-server, which .ci/run installs),
so that it can stop and restart it; the Chaat processes are real `chaat serve`s.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis as sync_redis
import redis.asyncio as redis
from conftest import User, befriend, free_port, new_chat, sign_up, start_chaat

pytestmark = pytest.mark.timeout(120)


class RedisServer:
    """A redis-server on a port of its own, which a test can kill and start again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = [
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen([self.binary, *options], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        with sync_redis.Redis(port=self.port) as client:
            while True:
                try:
                    client.ping()
                    return
                except sync_redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def spy(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    """The test's own Redis client, to look at subscriptions and messages."""
    client = redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def processes(settings, redis_server) -> AsyncIterator[tuple[str, str]]:
    """Two `chaat serve` processes sharing the database and the Redis bus."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CHAAT_SECRET_KEY": settings.secret_key,
        "CHAAT_REDIS_URL": redis_server.url,
    }
    first, a = await start_chaat(env)
    second, b = await start_chaat(env)
    yield a, b
    for server in (first, second):
        server.terminate()
        await server.wait()


async def subscribers(spy: redis.Redis, channel: str) -> int:
    return int(dict(await spy.pubsub_numsub(channel))[channel.encode()])


async def until_subscribers(spy: redis.Redis, channel: str, count: int) -> None:
    for _ in range(100):
        if await subscribers(spy, channel) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{channel}: {await subscribers(spy, channel)} subscribers, not {count}")


class Listener:
    """One user's event socket, collecting what it is sent, reconnecting with ?since."""

    def __init__(self, session: aiohttp.ClientSession, base: str, user: User) -> None:
        self.session, self.base, self.user = session, base, user
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ws = await self.session.ws_connect(f"{self.base}/v1/events", headers=self.user.headers)
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "ready"
        self.task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async with ws:
            async for msg in ws:
                self.received.append(json.loads(msg.data))
                self.arrived.set()

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [
            e["data"]
            for e in self.received
            if e["type"] == "message.created" and e["data"]["chat_id"] == chat_id
        ]


async def send(session: aiohttp.ClientSession, base: str, who: User, chat_id: int, body: str):
    async with session.post(
        f"{base}/v1/chats/{chat_id}/messages", json={"body": body}, headers=who.headers
    ) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def test_processes_wake_each_other_through_redis_for_their_own_users_only(
    client, processes, spy, settings
):
    a, b = processes
    alice, bob, carol = [await sign_up(client, name) for name in ("alice", "bob", "carol")]
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    chat_id = (await new_chat(client, alice, ["bob"]))["id"]
    session = aiohttp.ClientSession()
    bobs = Listener(session, b, bob)
    pg = await asyncpg.connect(settings.database_url)
    try:
        await bobs.start()
        # Bob's process subscribes to bob and his chat; nobody to alice, who listens nowhere.
        await until_subscribers(spy, f"chaat:user:{bob.id}", 1)
        await until_subscribers(spy, f"chaat:chat:{chat_id}", 1)
        assert await subscribers(spy, f"chaat:user:{alice.id}") == 0
        # From here on, the database's own wake-up channel stays silent: Redis carries them.
        notifications: list[str] = []
        await pg.add_listener("chaat_events", lambda *args: notifications.append(args[-1]))

        # Sent on the other process, each message reaches bob at once, not at the
        # next poll (every second).
        delays = []
        for n in range(15):
            bobs.arrived.clear()
            sent_at = time.monotonic()
            await send(session, a, alice, chat_id, f"hello {n}")
            while len(bobs.messages(chat_id)) <= n:
                await asyncio.wait_for(bobs.arrived.wait(), timeout=5)
                bobs.arrived.clear()
            delays.append(time.monotonic() - sent_at)
        assert [m["body"] for m in bobs.messages(chat_id)] == [f"hello {n}" for n in range(15)]
        assert statistics.median(delays) < 0.3, delays
        # A typing notice, never stored, travels whole on the bus.
        async with session.post(f"{a}/v1/chats/{chat_id}/typing", headers=alice.headers) as resp:
            assert resp.status == 204
        for _ in range(50):
            if any(e["type"] == "typing" for e in bobs.received):
                break
            await asyncio.sleep(0.05)
        typing = [e for e in bobs.received if e["type"] == "typing"]
        assert [e["data"]["user"]["id"] for e in typing] == [alice.id]
        assert "id" not in typing[0]

        # A chat made on the other process: bob's process reads his chats again and
        # follows the new one too.
        async with session.post(
            f"{a}/v1/chats",
            json={"participants": ["bob", "carol"], "kind": "group"},
            headers=alice.headers,
        ) as resp:
            assert resp.status == 201, await resp.text()
            group = await resp.json()
        await until_subscribers(spy, f"chaat:chat:{group['id']}", 1)
        await send(session, a, alice, group["id"], "welcome")
        for _ in range(50):
            if bobs.messages(group["id"]):
                break
            await asyncio.sleep(0.05)
        assert [m["body"] for m in bobs.messages(group["id"])] == ["welcome"]
        assert notifications == []

        # Bob's last stream on that process ends: it stops listening for him.
        await bobs.stop()
        await until_subscribers(spy, f"chaat:user:{bob.id}", 0)
        await until_subscribers(spy, f"chaat:chat:{chat_id}", 0)
    finally:
        await session.close()
        await pg.close()


async def test_nothing_is_lost_while_redis_stops_and_starts_again_under_load(
    client, processes, spy, redis_server, conn
):
    a, b = processes
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    await befriend(client, alice, bob)
    chat_id = (await new_chat(client, alice, ["bob"]))["id"]
    session = aiohttp.ClientSession()
    bobs = Listener(session, b, bob)
    try:
        await bobs.start()
        await until_subscribers(spy, f"chaat:chat:{chat_id}", 1)
        deadline = time.monotonic() + 4
        acknowledged = []

        async def sender(n: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                i += 1
                acknowledged.append(await send(session, a, alice, chat_id, f"{n}.{i}"))

        async def stop_and_start_redis() -> None:
            for _ in range(2):
                await asyncio.sleep(0.7)
                redis_server.kill()
                await asyncio.sleep(0.7)
                await asyncio.to_thread(redis_server.start)

        await asyncio.gather(*(sender(n) for n in range(4)), stop_and_start_redis())
        stored = [
            r["seq"]
            for r in await conn.fetch(
                "SELECT seq FROM message WHERE chat_sesh_id = $1 ORDER BY seq", chat_id
            )
        ]
        assert len(acknowledged) > 50
        assert sorted(m["seq"] for m in acknowledged) == stored
        for _ in range(100):  # the last ones may come with the next poll
            if len(bobs.messages(chat_id)) >= len(stored):
                break
            await asyncio.sleep(0.05)
        # Every message arrived once, in order, through the stops.
        assert [m["seq"] for m in bobs.messages(chat_id)] == stored
        ids = [e["id"] for e in bobs.received if "id" in e]
        assert ids == sorted(set(ids))

        # Redis back: bob's process subscribed again, and wake-ups are quick again.
        await spy.aclose()
        spy = redis.from_url(redis_server.url)
        await until_subscribers(spy, f"chaat:chat:{chat_id}", 1)
        delays = []
        for n in range(5):
            sent_at = time.monotonic()
            last = await send(session, a, alice, chat_id, f"after {n}")
            while not any(m["seq"] == last["seq"] for m in bobs.messages(chat_id)):
                bobs.arrived.clear()
                await asyncio.wait_for(bobs.arrived.wait(), timeout=5)
            delays.append(time.monotonic() - sent_at)
        assert statistics.median(delays) < 0.3, delays  # not the poll's second
    finally:
        await session.close()
