"""GET /v1/events: who hears what, in which order, and nothing lost across reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import weakref
from dataclasses import replace
from typing import Any

import aiohttp
import asyncpg
import pytest
from conftest import PASSWORD, User, befriend, sign_up, start_chaat

from chaat import bus, hub, keys, messages
from chaat.app import create_app
from chaat.handlers import events as event_handlers
from chaat.siblings import Siblings


class Stream:
    """One client's event socket, read one frame at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def next(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return json.loads(msg.data)

    async def expect(self, type: str) -> dict[str, Any]:
        event = await self.next()
        assert event["type"] == type, event
        return event

    async def types(self, count: int) -> list[str]:
        return [(await self.next())["type"] for _ in range(count)]


async def connect(client, user: User, query: str = "") -> Stream:
    ws = await client.ws_connect(f"/v1/events{query}", headers=user.headers)
    stream = Stream(ws)
    ready = await stream.expect("ready")
    assert ready["data"]["user"]["id"] == user.id
    assert "id" not in ready
    return stream


async def chat_with(client, a: User, *others: User, name: str | None = None) -> int:
    body: dict[str, Any] = {"participants": [o.username for o in others]}
    if name is not None:
        body["name"] = name
    resp = await client.post("/v1/chats", json=body, headers=a.headers)
    assert resp.status in (200, 201), await resp.text()
    return (await resp.json())["id"]


async def send(client, user: User, chat_id: int, body: str) -> dict[str, Any]:
    resp = await client.post(
        f"/v1/chats/{chat_id}/messages", json={"body": body}, headers=user.headers
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_bad_authorization_header_is_refused_before_the_upgrade(client, alice):
    resp = await client.get(
        "/v1/events",
        headers={
            "Authorization": "Bearer chaat_forged",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_a_browser_authenticates_with_its_first_frame(client, alice):
    ws = await client.ws_connect("/v1/events")
    await ws.send_json({"type": "authenticate", "token": alice.token})
    ready = await Stream(ws).expect("ready")
    assert ready["data"]["user"]["username"] == "alice"
    await ws.close()


@pytest.mark.parametrize(
    "first_frame",
    [{"type": "authenticate", "token": "chaat_forged"}, {"type": "hello"}, "not json"],
)
async def test_a_bad_first_frame_closes_with_1008(client, alice, first_frame):
    ws = await client.ws_connect("/v1/events")
    if isinstance(first_frame, str):
        await ws.send_str(first_frame)
    else:
        await ws.send_json(first_frame)
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1008


async def test_no_first_frame_in_time_closes_with_1008(client, monkeypatch):
    monkeypatch.setattr(event_handlers, "AUTH_TIMEOUT", 0.3)
    ws = await client.ws_connect("/v1/events")
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1008)


async def test_a_token_in_the_url_is_not_accepted(client, alice):
    resp = await client.get(f"/v1/events?token={alice.token}&access_token={alice.token}")
    assert resp.status == 401


async def test_friend_events_reach_exactly_the_users_they_name(client, alice, bob, carol):
    a, b, c = [await connect(client, u) for u in (alice, bob, carol)]

    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    request = await resp.json()
    created = await b.expect("friend_request.created")
    assert created["data"] == request

    await client.patch(
        f"/v1/friend-requests/{request['id']}", json={"status": "accepted"}, headers=bob.headers
    )
    for stream in (a, b):
        updated = await stream.expect("friend_request.updated")
        assert updated["data"]["status"] == "accepted"

    await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)
    assert (await a.expect("friend.removed"))["data"] == {"user_id": bob.id}
    assert (await b.expect("friend.removed"))["data"] == {"user_id": alice.id}

    resp = await client.post("/v1/friend-requests", json={"to": "bob"}, headers=alice.headers)
    again = await resp.json()
    await b.expect("friend_request.created")
    await client.delete(f"/v1/friend-requests/{again['id']}", headers=alice.headers)
    assert (await b.expect("friend_request.withdrawn"))["data"] == {"id": again["id"]}

    # Carol was named in none of it: the first thing she hears is her own request.
    await client.post("/v1/friend-requests", json={"to": "carol"}, headers=bob.headers)
    assert (await c.next())["type"] == "friend_request.created"
    # And alice heard nothing of the request bob sent carol.
    await client.post("/v1/friend-requests", json={"to": "alice"}, headers=carol.headers)
    assert (await a.next())["data"]["from"]["username"] == "carol"


async def test_chat_events_reach_participants_and_whoever_left(client, alice, bob, carol):
    dave = await sign_up(client, "dave")
    for friend in (bob, carol, dave):
        await befriend(client, alice, friend)
    a, b, c, d = [await connect(client, u) for u in (alice, bob, carol, dave)]

    chat_id = await chat_with(client, alice, bob, carol, name="trio")
    for stream in (a, b, c):
        created = await stream.expect("chat.created")
        assert created["data"]["id"] == chat_id
        assert {p["username"] for p in created["data"]["participants"]} == {"alice", "bob", "carol"}

    message = await send(client, bob, chat_id, "hello trio")
    for stream in (a, b, c):  # the sender's own connections too
        assert (await stream.expect("message.created"))["data"] == message

    await client.patch(f"/v1/chats/{chat_id}", json={"name": "quartet"}, headers=carol.headers)
    for stream in (a, b, c):
        assert (await stream.expect("chat.updated"))["data"]["name"] == "quartet"

    await client.post(
        f"/v1/chats/{chat_id}/participants", json={"user": "dave"}, headers=alice.headers
    )
    for stream in (a, b, c, d):
        updated = await stream.expect("chat.updated")
        assert "dave" in {p["username"] for p in updated["data"]["participants"]}

    await client.delete(f"/v1/chats/{chat_id}/participants/{carol.id}", headers=alice.headers)
    for stream in (a, b, c, d):  # carol hears of her own removal, then nothing more
        updated = await stream.expect("chat.updated")
        assert "carol" not in {p["username"] for p in updated["data"]["participants"]}

    await send(client, alice, chat_id, "without carol")
    for stream in (a, b, d):
        await stream.expect("message.created")
    await client.post("/v1/friend-requests", json={"to": "carol"}, headers=dave.headers)
    assert (await c.next())["type"] == "friend_request.created"


async def test_a_direct_message_to_a_new_chat_announces_the_chat_first(client, alice, bob):
    await befriend(client, alice, bob)
    b = await connect(client, bob)
    resp = await client.post("/v1/users/bob/messages", json={"body": "hi"}, headers=alice.headers)
    assert resp.status == 201
    assert await b.types(2) == ["chat.created", "message.created"]


async def test_event_ids_increase_for_each_user(client, alice, bob):
    await befriend(client, alice, bob)
    b = await connect(client, bob)
    chat_id = await chat_with(client, alice, bob)
    await b.expect("chat.created")
    for n in range(5):
        await send(client, alice, chat_id, f"m{n}")
    ids = [(await b.next())["id"] for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


async def test_a_resuming_client_gets_the_500_events_it_missed_once_in_order(client, alice, bob):
    await befriend(client, alice, bob)
    b = await connect(client, bob)
    chat_id = await chat_with(client, alice, bob)
    last = await b.expect("chat.created")
    await b.ws.close()

    sent = [await send(client, alice, chat_id, f"missed {n}") for n in range(500)]

    b = await connect(client, bob, f"?since={last['id']}")
    replayed = [await b.next() for _ in range(500)]
    assert [e["data"]["seq"] for e in replayed] == [m["seq"] for m in sent]
    assert [e["id"] for e in replayed] == sorted({e["id"] for e in replayed})
    # Then live, with no gap and no duplicate at the seam.
    live = await send(client, alice, chat_id, "live again")
    event = await b.expect("message.created")
    assert event["data"] == live
    assert event["id"] > replayed[-1]["id"]


async def test_events_that_commit_during_the_replay_arrive_once(client, alice, bob):
    await befriend(client, alice, bob)
    chat_id = await chat_with(client, alice, bob)
    for n in range(300):
        await send(client, alice, chat_id, f"before {n}")

    async def keep_sending() -> None:
        for n in range(100):
            await send(client, alice, chat_id, f"during {n}")

    sending = asyncio.create_task(keep_sending())
    b = await connect(client, bob, "?since=0")
    seqs: list[int] = []
    while len(seqs) < 400:
        event = await b.next()
        if event["type"] == "message.created":
            seqs.append(event["data"]["seq"])
    await sending
    assert seqs == list(range(1, 401))


async def test_a_too_old_since_gets_resync_required_then_live_events(client, alice, bob, conn):
    await befriend(client, alice, bob)
    chat_id = await chat_with(client, alice, bob)
    first = await send(client, alice, chat_id, "ancient")
    await conn.execute("UPDATE event SET created_at = now() - interval '8 days'")
    dropped = await client.app[keys.hub].prune(conn)
    assert dropped > 0

    b = await connect(client, bob, "?since=1")
    assert await b.next() == {"type": "resync_required", "data": {}}
    live = await send(client, alice, chat_id, "fresh")
    assert (await b.expect("message.created"))["data"] == live
    assert live["seq"] == first["seq"] + 1


async def test_messages_from_20_concurrent_senders_arrive_in_seq_order(client, alice):
    senders = [await sign_up(client, f"sender{n}") for n in range(20)]
    for sender in senders:
        await befriend(client, alice, sender)
    chat_id = await chat_with(client, alice, *senders, name="crowd")
    a = await connect(client, alice)
    await asyncio.gather(
        *(send(client, s, chat_id, f"{s.username} {n}") for s in senders for n in range(3))
    )
    seqs = [(await a.expect("message.created"))["data"]["seq"] for _ in range(60)]
    assert seqs == list(range(1, 61))


async def test_revoking_a_token_closes_its_socket(client, alice):
    stream = await connect(client, alice)
    other_session = await client.post(
        "/v1/tokens", json={"username": "alice", "password": PASSWORD}
    )
    other = User(alice.id, "alice", (await other_session.json())["token"])
    other_stream = await connect(client, other)

    await client.delete("/v1/tokens/current", headers=alice.headers)
    msg = await stream.ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1008)
    # The other session's socket stays open until that token goes too.
    await client.delete("/v1/tokens", headers=other.headers)
    msg = await other_stream.ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1008)


async def test_a_rolled_back_send_produces_no_event(client, alice, bob, conn):
    await befriend(client, alice, bob)
    b = await connect(client, bob)
    chat_id = await chat_with(client, alice, bob)
    await b.expect("chat.created")
    # Make the commit itself fail for one body: the message and its event row were
    # written, and must vanish with the rollback, waking no one.
    await conn.execute(
        """
        CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.body = 'boom' THEN RAISE EXCEPTION 'refused'; END IF;
            RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT ON message
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom();
        """
    )
    resp = await client.post(
        f"/v1/chats/{chat_id}/messages", json={"body": "boom"}, headers=alice.headers
    )
    assert resp.status == 500
    ok = await send(client, alice, chat_id, "fine")
    event = await b.expect("message.created")
    assert event["data"] == ok
    assert ok["seq"] == 1  # the failed send left no gap either


async def test_server_sent_events_resume_from_last_event_id(client, alice, bob):
    await befriend(client, alice, bob)
    chat_id = await chat_with(client, alice, bob)
    first = await send(client, alice, chat_id, "one")
    await send(client, alice, chat_id, "two")
    async with client.get(
        "/v1/events", headers={**bob.headers, "Accept": "text/event-stream"}
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert await sse_event(resp) == (
            None,
            "ready",
            {"user": (await (await client.get("/v1/users/me", headers=bob.headers)).json())},
        )
    # Find the id of message one, then resume after it.
    async with client.get(
        "/v1/events?since=0", headers={**bob.headers, "Accept": "text/event-stream"}
    ) as resp:
        await sse_event(resp)  # ready
        events_seen = [await sse_event(resp) for _ in range(5)]
    assert [e[1] for e in events_seen] == [
        "friend_request.created",
        "friend_request.updated",
        "chat.created",
        "message.created",
        "message.created",
    ]
    one_id = events_seen[3][0]
    assert events_seen[3][2] == first
    headers = {**bob.headers, "Accept": "text/event-stream", "Last-Event-ID": str(one_id)}
    async with client.get("/v1/events", headers=headers) as resp:
        await sse_event(resp)  # ready
        event_id, type, data = await sse_event(resp)
        assert (type, data["body"]) == ("message.created", "two")
        assert event_id > one_id
        three = await send(client, alice, chat_id, "three")
        assert (await sse_event(resp))[2] == three


async def sse_event(resp) -> tuple[int | None, str, Any]:
    """The next event of an SSE stream: (id, type, data)."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith(":"):
            continue
        if not line:
            if fields:
                break
            continue
        name, _, value = line.partition(": ")
        fields[name] = value
    event_id = int(fields["id"]) if "id" in fields else None
    return event_id, fields["event"], json.loads(fields["data"])


async def test_an_unauthenticated_sse_request_is_401(client):
    resp = await client.get("/v1/events", headers={"Accept": "text/event-stream"})
    assert resp.status == 401


async def test_a_slow_subscriber_is_told_to_resume(alice):
    subscriber = hub.Subscriber(user_id=1, token_id=1, expires_at=None)  # type: ignore[arg-type]
    for n in range(hub.Subscriber.LIMIT):
        subscriber.offer(hub.Delivery(n, "message.created", "{}"))
    assert subscriber.kicked is None
    subscriber.offer(hub.Delivery(10_000, "message.created", "{}"))
    assert subscriber.kicked is not None
    assert subscriber.kicked.code == hub.TRY_AGAIN_LATER


async def test_shutting_down_closes_sockets_with_1001(client, alice):
    stream = await connect(client, alice)
    await client.server.app.shutdown()
    msg = await stream.ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_two_server_processes_share_events_and_revocations(client, settings, alice, bob):
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CHAAT_SECRET_KEY": settings.secret_key,
    }
    other, base = await start_chaat(env)
    try:
        async with aiohttp.ClientSession() as session:
            await befriend(client, alice, bob)
            chat_id = await chat_with(client, alice, bob)
            # Bob listens on the other process; alice writes to this one...
            remote = Stream(await session.ws_connect(f"{base}/v1/events", headers=bob.headers))
            await remote.expect("ready")
            local = await connect(client, alice)
            message = await send(client, alice, chat_id, "across processes")
            assert (await remote.expect("message.created"))["data"] == message
            assert (await local.expect("message.created"))["data"] == message
            # ...and the other way round.
            async with session.post(
                f"{base}/v1/chats/{chat_id}/messages",
                json={"body": "and back"},
                headers=bob.headers,
            ) as resp:
                assert resp.status == 201
                back = await resp.json()
            assert (await local.expect("message.created"))["data"] == back
            assert (await remote.expect("message.created"))["data"] == back  # his own, too
            # Typing notices, never stored, cross too.
            resp = await client.post(f"/v1/chats/{chat_id}/typing", headers=alice.headers)
            assert resp.status == 204
            notice = await remote.expect("typing")
            assert notice["data"]["user"]["username"] == "alice"
            # Revoking bob's token here closes his socket over there.
            await client.delete("/v1/tokens/current", headers=bob.headers)
            msg = await remote.ws.receive(timeout=5)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1008)
    finally:
        other.terminate()
        await asyncio.wait_for(other.wait(), 10)


async def test_the_workers_of_one_server_wake_each_other_without_postgresql(
    client, settings, alice, bob, database_url
):
    """`chaat serve --workers 2`, for real: streams spread over both workers get every
    message promptly, whichever worker took the send, and no wake-up goes through
    PostgreSQL (only each worker's first stream is announced, for other servers)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CHAAT_SECRET_KEY": settings.secret_key,
    }
    await befriend(client, alice, bob)
    chat_id = await chat_with(client, alice, bob)
    server, base = await start_chaat(env, "--workers", "2")
    spy = await asyncpg.connect(database_url)
    heard: list[str] = []
    sessions = [aiohttp.ClientSession() for _ in range(8)]  # new connections: both workers
    try:
        await spy.add_listener(bus.EVENTS_CHANNEL, lambda *args: heard.append(args[3]))
        streams = [
            Stream(await session.ws_connect(f"{base}/v1/events", headers=bob.headers))
            for session in sessions
        ]
        for stream in streams:
            await stream.expect("ready")
        await asyncio.sleep(0.3)
        for n, session in enumerate(sessions[:4]):
            async with session.post(
                f"{base}/v1/chats/{chat_id}/messages",
                json={"body": f"message {n}"},
                headers=alice.headers,
            ) as resp:
                assert resp.status == 201
            sent = asyncio.get_running_loop().time()
            for stream in streams:
                event = await stream.expect("message.created")
                assert event["data"]["body"] == f"message {n}"
            # Well within the dispatcher's poll (a second), which a lost wake-up waits for.
            assert asyncio.get_running_loop().time() - sent < 0.5
        assert [payload.partition(" ")[2] for payload in heard] in (
            [bus.STREAMS_OPENED],
            [bus.STREAMS_OPENED] * 2,
        )
    finally:
        for session in sessions:
            await session.close()
        await spy.close()
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)


async def test_a_since_beyond_the_stream_gets_resync_required_then_live_events(client, alice, bob):
    # An id from some other stream (a restored database) must not leave the client deaf.
    a = await connect(client, alice, "?since=1000000000")
    assert await a.next() == {"type": "resync_required", "data": {}}
    await client.post("/v1/friend-requests", json={"to": "alice"}, headers=bob.headers)
    assert (await a.next())["type"] == "friend_request.created"


async def test_a_deeply_nested_first_frame_closes_with_1008(client):
    ws = await client.ws_connect("/v1/events")
    await ws.send_str("[" * 60_000)
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1008)


async def test_an_idle_stream_closes_with_1008_when_its_token_expires(aiohttp_client, settings):
    client = await aiohttp_client(create_app(replace(settings, token_ttl=2)))
    alice = await sign_up(client, "alice")
    stream = await connect(client, alice)
    msg = await stream.ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1008)


async def test_live_events_flow_while_requests_hold_every_pool_connection(
    aiohttp_client, settings, conn
):
    client = await aiohttp_client(create_app(replace(settings, pool_size=2)))
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    await befriend(client, alice, bob)
    groups = [await chat_with(client, alice, bob, name=f"Busy {n}") for n in range(3)]
    stream = await connect(client, alice)
    # Three sends, one to each chat, wait for the chats' locks, held here: two hold the
    # pool's two connections meanwhile, the third waits for one.
    for group in groups:
        await conn.execute("SELECT pg_advisory_lock(chat_lock_key($1))", group)
    sends = [
        asyncio.create_task(send(client, bob, group, f"queued {n}"))
        for n, group in enumerate(groups)
    ]
    for _ in range(100):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%send_message%'"
        )
        if waiting == 2:
            break
        await asyncio.sleep(0.05)
    assert waiting == 2
    # An event written elsewhere (another process, say) still reaches alice at once.
    await conn.execute(
        "INSERT INTO event (user_id, type, data) VALUES ($1, 'friend_request.created', '{}')",
        alice.id,
    )
    await conn.execute("SELECT pg_notify('chaat_events', 'elsewhere')")
    assert (await stream.next())["type"] == "friend_request.created"
    for group in groups:
        await conn.execute("SELECT pg_advisory_unlock(chat_lock_key($1))", group)
    await asyncio.gather(*sends)
    assert sorted([(await stream.expect("message.created"))["data"]["body"] for _ in sends]) == [
        "queued 0",
        "queued 1",
        "queued 2",
    ]


async def test_a_stream_resumed_on_a_process_with_no_other_stream_misses_nothing(
    client, alice, bob
):
    await befriend(client, alice, bob)
    chat = await chat_with(client, bob, alice)
    first = await connect(client, alice)
    await send(client, bob, chat, "0")
    since = (await first.expect("message.created"))["id"]
    await first.ws.close()  # the process has no stream now: its dispatcher idles

    midway = asyncio.Event()

    async def write() -> None:
        for n in range(1, 61):
            await send(client, bob, chat, str(n))
            if n == 20:
                midway.set()

    writing = asyncio.create_task(write())
    await midway.wait()
    resumed = await connect(client, alice, f"?since={since}")
    await writing
    bodies = [(await resumed.expect("message.created"))["data"]["body"] for _ in range(60)]
    assert bodies == [str(n) for n in range(1, 61)]


async def test_a_lone_process_sends_no_wake_ups_until_another_listens(
    client, alice, bob, database_url
):
    await befriend(client, alice, bob)
    chat = await chat_with(client, alice, bob)
    heard: asyncio.Queue[str] = asyncio.Queue()
    other = await asyncpg.connect(database_url)  # as another process's LISTEN would
    try:
        await other.add_listener(bus.EVENTS_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        await send(client, alice, chat, "nobody else listens")
        await asyncio.sleep(0.3)
        assert heard.empty()
        # Named as a server's listener, it is found within PEERS_CHECK_SECONDS.
        await other.execute(f"SET application_name = '{bus.LISTENER_NAME}'")
        await asyncio.sleep(bus.PEERS_CHECK_SECONDS + 0.2)
        await send(client, alice, chat, "now someone does")
        await asyncio.wait_for(heard.get(), 5)
    finally:
        await other.close()


async def test_only_a_process_with_open_streams_is_woken(
    client, aiohttp_client, settings, alice, bob, database_url, monkeypatch
):
    """Two processes on one database, as `--workers 2` runs them. One with no open
    stream has nothing to deliver: the other sends it no wake-ups. When its first
    stream opens it says so, and is woken from the next commit on, without waiting
    for the other's next look at who listens."""
    monkeypatch.setattr(bus, "PEERS_CHECK_SECONDS", 60.0)  # only the announcement can tell
    other = await aiohttp_client(create_app(settings))
    await befriend(client, alice, bob)
    chat = await chat_with(client, alice, bob)
    spy = await asyncpg.connect(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await spy.add_listener(bus.EVENTS_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        for _ in range(50):  # both listeners say they have no streams
            idle = await spy.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                bus.IDLE_LISTENER_NAME,
            )
            if idle == 2:
                break
            await asyncio.sleep(0.1)
        assert idle == 2

        await send(client, alice, chat, "nobody listens")
        await asyncio.sleep(0.3)
        assert heard.empty()

        stream = await connect(other, bob)  # the other process's first stream
        announcement = await asyncio.wait_for(heard.get(), 5)
        assert announcement.endswith(f" {bus.STREAMS_OPENED}")
        for attempt in range(5):  # once this process has heard it too
            await send(client, alice, chat, f"bob listens {attempt}")
            with contextlib.suppress(TimeoutError):
                wake_up = await asyncio.wait_for(heard.get(), 1)
                break
        assert " " not in wake_up  # a plain wake-up: the sender's name
        event = await stream.expect("message.created")
        assert event["data"]["body"].startswith("bob listens")
    finally:
        await spy.close()


async def test_sibling_workers_wake_each_other_directly_and_others_through_the_bus(
    client, aiohttp_client, settings, alice, bob, database_url, monkeypatch
):
    """`--workers 2`: the workers of one server tell each other of commits and typing
    through their own sockets (chaat.siblings), never through PostgreSQL. A process of
    another server on the same database (here, `client`'s) still hears of them through
    the bus, and a typing notice reaches each stream once, not once per path."""
    monkeypatch.setattr(hub, "POLL_SECONDS", 60.0)  # only a wake-up delivers in time
    monkeypatch.setattr(bus, "PEERS_CHECK_SECONDS", 0.0)  # who listens: asked at each commit
    monkeypatch.setattr(messages, "TYPING_INTERVAL", 0.0)
    first, second = Siblings.inboxes(2)
    one = await aiohttp_client(create_app(settings, siblings=first))
    two = await aiohttp_client(create_app(settings, siblings=second))
    await befriend(client, alice, bob)
    chat = await chat_with(client, alice, bob)
    # As in separate processes: a commit through `one` wakes no other hub of this one.
    monkeypatch.setattr(hub, "_hubs", weakref.WeakSet([one.app[keys.hub]]))
    spy = await asyncpg.connect(database_url)
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    try:
        for channel in (bus.EVENTS_CHANNEL, bus.LIVE_CHANNEL):
            await spy.add_listener(channel, lambda *args: heard.put_nowait(args[2:]))
        for _ in range(50):  # each has told the other its listener
            if first.listener_pids() and second.listener_pids():
                break
            await asyncio.sleep(0.1)
        sibling = await connect(two, bob)

        message = await send(one, alice, chat, "between siblings")
        assert (await sibling.expect("message.created"))["data"] == message
        resp = await one.post(f"/v1/chats/{chat}/typing", headers=alice.headers)
        assert resp.status == 204
        assert (await sibling.expect("typing"))["data"]["user"]["id"] == alice.id
        await asyncio.sleep(0.3)
        while not heard.empty():  # from the siblings, nothing but `two`'s first stream
            channel, payload = heard.get_nowait()
            sender, _, what = payload.partition(" ")
            # (`client` may wake them for its own commits above: a process's listener
            # counts as having streams from its start until it has said it has none.)
            if first.is_sibling(sender) or second.is_sibling(sender):
                assert (channel, what) == (bus.EVENTS_CHANNEL, bus.STREAMS_OPENED)

        elsewhere = await connect(client, bob)  # announced: `one` wakes it from now on
        await asyncio.sleep(0.3)
        message = await send(one, alice, chat, "to both servers")
        assert (await sibling.expect("message.created"))["data"] == message
        assert (await elsewhere.expect("message.created"))["data"] == message
        resp = await one.post(f"/v1/chats/{chat}/typing", headers=alice.headers)
        assert resp.status == 204
        message = await send(one, alice, chat, "after typing")
        for stream in (sibling, elsewhere):
            assert await stream.types(2) == ["typing", "message.created"]
            with pytest.raises(TimeoutError):  # and no second notice, by the other path
                await stream.ws.receive(timeout=0.5)
    finally:
        await spy.close()
