"""Chats and messages under concurrent requests: the database keeps the rules."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import asyncpg
from conftest import befriend, error_of, new_chat, sign_up

from chaat import keys
from chaat.app import create_app
from chaat.messages import Sends


async def post_message(client, who, chat_id, body, **extra):
    return await client.post(
        f"/v1/chats/{chat_id}/messages", json={"body": body, **extra}, headers=who.headers
    )


async def test_twenty_concurrent_senders_get_seqs_1_to_n_in_commit_order(client, conn):
    senders = [await sign_up(client, f"sender{i:02}") for i in range(20)]
    owner, others = senders[0], senders[1:]
    for other in others:
        await befriend(client, owner, other)
    resp = await client.post(
        "/v1/chats",
        json={"participants": [u.username for u in others], "name": "busy"},
        headers=owner.headers,
    )
    assert resp.status == 201
    chat_id = (await resp.json())["id"]
    per_sender = 5
    total = len(senders) * per_sender
    done = asyncio.Event()
    seen: list[int] = []

    async def reader():
        # A client that polls with after=<last seq seen> must never skip one:
        # seq N+1 is visible before anything higher, because seqs follow commit order.
        while True:
            finished = done.is_set()
            after = seen[-1] if seen else 0
            resp = await client.get(
                f"/v1/chats/{chat_id}/messages?after={after}&limit=200", headers=owner.headers
            )
            assert resp.status == 200
            new = [m["seq"] for m in (await resp.json())["items"]]
            assert new == list(range(after + 1, after + 1 + len(new))), (after, new)
            seen.extend(new)
            if finished:
                return
            await asyncio.sleep(0)

    async def send(who, i):
        resp = await post_message(client, who, chat_id, f"{who.username} #{i}")
        assert resp.status == 201, await resp.text()
        return (await resp.json())["seq"]

    polling = asyncio.create_task(reader())
    answered = await asyncio.gather(*(send(who, i) for i in range(per_sender) for who in senders))
    done.set()
    await polling

    assert sorted(answered) == list(range(1, total + 1))
    assert seen == list(range(1, total + 1))
    rows = await conn.fetch(
        "SELECT seq, created_at FROM message WHERE chat_sesh_id = $1 ORDER BY seq", chat_id
    )
    assert [r["seq"] for r in rows] == list(range(1, total + 1))
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps), "created_at goes down somewhere as seq goes up"
    assert await conn.fetchval("SELECT last_seq FROM chat_sesh WHERE id = $1", chat_id) == total
    counts = await conn.fetch(
        "SELECT sender_id, count(*) AS n FROM message WHERE chat_sesh_id = $1 GROUP BY sender_id",
        chat_id,
    )
    assert sorted(r["n"] for r in counts) == [per_sender] * len(senders)


async def test_two_users_creating_their_direct_chat_at_once_get_one_chat(client, conn):
    pairs = []
    for i in range(8):
        a = await sign_up(client, f"left{i}")
        b = await sign_up(client, f"right{i}")
        await befriend(client, a, b)
        pairs.append((a, b))

    async def create(me, other):
        resp = await client.post(
            "/v1/chats", json={"participants": [other.username]}, headers=me.headers
        )
        return resp.status, (await resp.json())["id"]

    answers = await asyncio.gather(
        *(create(me, other) for a, b in pairs for me, other in ((a, b), (b, a)))
    )
    for (a, b), both in zip(pairs, zip(answers[::2], answers[1::2], strict=True), strict=True):
        statuses = sorted(status for status, _ in both)
        assert statuses == [200, 201], (a.username, both)
        assert both[0][1] == both[1][1], (a.username, both)
        count = await conn.fetchval(
            """
            SELECT count(*) FROM chat_sesh
            WHERE direct_low = least($1::bigint, $2::bigint)
              AND direct_high = greatest($1::bigint, $2::bigint)
            """,
            a.id,
            b.id,
        )
        assert count == 1
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == len(pairs)
    assert await conn.fetchval("SELECT count(*) FROM chat_participant") == 2 * len(pairs)


async def test_two_users_messaging_each_other_first_at_once_share_one_chat(client, conn):
    pairs = []
    for i in range(6):
        a = await sign_up(client, f"ping{i}")
        b = await sign_up(client, f"pong{i}")
        await befriend(client, a, b)
        pairs.append((a, b))

    async def message(me, other):
        resp = await client.post(
            f"/v1/users/{other.username}/messages",
            json={"body": f"hi {other.username}"},
            headers=me.headers,
        )
        assert resp.status == 201, await resp.text()
        return (await resp.json())["chat_id"]

    chat_ids = await asyncio.gather(
        *(message(me, other) for a, b in pairs for me, other in ((a, b), (b, a)))
    )
    assert chat_ids[::2] == chat_ids[1::2]
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == len(pairs)
    seqs = await conn.fetch(
        "SELECT chat_sesh_id, array_agg(seq ORDER BY seq) AS s FROM message GROUP BY 1"
    )
    assert all(list(r["s"]) == [1, 2] for r in seqs)


async def test_concurrent_retries_of_one_client_id_store_one_message(client, conn, alice, bob):
    await befriend(client, alice, bob)
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    chat_id = (await resp.json())["id"]

    async def attempt():
        resp = await post_message(client, alice, chat_id, "exactly once", client_id="retry-me")
        return resp.status, (await resp.json())["id"]

    answers = await asyncio.gather(*(attempt() for _ in range(10)))
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert len({message_id for _, message_id in answers}) == 1
    assert await conn.fetchval("SELECT count(*) FROM message") == 1


async def test_concurrent_retries_that_also_create_the_chat_store_one_message(
    client, conn, alice, bob
):
    await befriend(client, alice, bob)

    async def attempt(path, payload):
        resp = await client.post(path, json=payload, headers=alice.headers)
        body = await resp.json()
        assert resp.status in (200, 201), body
        return body["id"] if "seq" in body else body["last_message"]["id"]

    message_ids = await asyncio.gather(
        *(
            attempt("/v1/users/bob/messages", {"body": "first!", "client_id": "k"})
            if i % 2
            else attempt(
                "/v1/chats", {"participants": ["bob"], "message": "first!", "client_id": "k"}
            )
            for i in range(10)
        )
    )
    assert len(set(message_ids)) == 1
    assert await conn.fetchval("SELECT count(*) FROM chat_sesh") == 1
    assert await conn.fetchval("SELECT count(*) FROM message") == 1


async def test_two_additions_cannot_both_take_the_last_place(aiohttp_client, settings, conn):
    client = await aiohttp_client(create_app(replace(settings, max_group_size=3)))
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    await befriend(client, alice, bob)
    for round_ in range(5):
        carol = await sign_up(client, f"carol{round_}")
        dave = await sign_up(client, f"dave{round_}")
        await befriend(client, alice, carol)
        await befriend(client, bob, dave)
        resp = await client.post(
            "/v1/chats", json={"participants": ["bob"], "name": "g"}, headers=alice.headers
        )
        chat_id = (await resp.json())["id"]

        async def add(who, user, chat_id=chat_id):
            resp = await client.post(
                f"/v1/chats/{chat_id}/participants", json={"user": user}, headers=who.headers
            )
            return resp.status

        statuses = await asyncio.gather(add(alice, carol.username), add(bob, dave.username))
        assert sorted(statuses) == [201, 422]
        count = "SELECT count(*) FROM chat_participant WHERE chat_sesh_id = $1"
        assert await conn.fetchval(count, chat_id) == 3


async def waiting_for_a_lock(conn, count, wait_event="advisory"):
    """Wait until `count` sends wait for a lock in the database (a row's: transactionid)."""
    for _ in range(300):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event = $1 AND query LIKE '%send_messages%'",
            wait_event,
        )
        if waiting == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sends never waited for a lock")


async def queued_in_the_server(client, chat_id, count=1):
    """Wait until `count` sends to the chat wait in the server for their batch."""
    for _ in range(200):
        if client.app[keys.sends].queued(chat_id) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sends to chat {chat_id} never queued")


async def sends_held_by_the_chats_lock(client, settings, conn, chat_id, sends):
    """Send each (who, json), while another transaction holds the chat's lock, once the
    one before has arrived: the first waits for the lock in the database, the others
    queue behind it in the server, in order. Answers their responses, in order."""
    holder = await asyncpg.connect(settings.database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock(chat_lock_key($1))", chat_id)
            requests = []
            for n, (who, body) in enumerate(sends):
                requests.append(
                    asyncio.create_task(
                        client.post(f"/v1/chats/{chat_id}/messages", json=body, headers=who.headers)
                    )
                )
                if n == 0:
                    await waiting_for_a_lock(conn, 1)
                else:
                    await queued_in_the_server(client, chat_id, n)
    finally:
        await holder.close()
    return await asyncio.gather(*requests)


@contextlib.asynccontextmanager
async def batches_held_by_chat_locks(client, settings, conn, who, chat_ids):
    """For the block, another transaction holds each chat's lock, and one send of who's
    to each waits for it in the database, in its own batch (sent once the one before
    waits). Yields those sends' tasks; the locks go when the block ends."""
    holder = await asyncpg.connect(settings.database_url)
    try:
        async with holder.transaction():
            for chat_id in chat_ids:
                await holder.execute("SELECT pg_advisory_xact_lock(chat_lock_key($1))", chat_id)
            held = []
            for n, chat_id in enumerate(chat_ids):
                held.append(asyncio.create_task(post_message(client, who, chat_id, "held")))
                await waiting_for_a_lock(conn, n + 1)
            yield held
    finally:
        await holder.close()


async def test_sends_to_a_busy_chat_go_together_and_each_gets_its_own_answer(
    aiohttp_client, settings, conn
):
    client = await aiohttp_client(create_app(replace(settings, pool_size=1)))
    statements: list[str] = []
    async with client.app[keys.pool].acquire() as pooled:
        pooled.add_query_logger(lambda record: statements.append(record.query))
    alice, bob, carol = [await sign_up(client, name) for name in ("alice", "bob", "carol")]
    await befriend(client, alice, bob)
    resp = await client.post(
        "/v1/chats", json={"participants": ["bob"], "kind": "group"}, headers=alice.headers
    )
    chat_id = (await resp.json())["id"]
    first = await post_message(client, alice, chat_id, "first", client_id="once")
    assert first.status == 201
    for who in (bob, carol):  # their tokens are known: no statement to authenticate them
        await client.get("/v1/users/me", headers=who.headers)
    before = len(statements)

    sends = [(alice, {"body": f"alice {n}"}) for n in range(5)]
    sends += [
        (carol, {"body": "not a participant"}),
        (alice, {"body": "first", "client_id": "once"}),
        (bob, {"body": "a reply", "reply_to": 1}),
        (bob, {"body": "a reply to nothing", "reply_to": 99}),
        (bob, {"body": "bob's last"}),
    ]
    answers = await sends_held_by_the_chats_lock(client, settings, conn, chat_id, sends)

    assert [r.status for r in answers] == [201] * 5 + [404, 200, 201, 422, 201]
    assert (await answers[6].json())["id"] == (await first.json())["id"]
    created = [await answers[i].json() for i in (0, 1, 2, 3, 4, 7, 9)]
    assert [m["seq"] for m in created] == list(range(2, 9))  # in the order they came
    stored = await conn.fetch(
        "SELECT seq, body FROM message WHERE chat_sesh_id = $1 ORDER BY seq", chat_id
    )
    assert [(r["seq"], r["body"]) for r in stored] == [(1, "first")] + [
        (m["seq"], m["body"]) for m in created
    ]
    # One statement waited for the lock; the nine sent meanwhile went together.
    assert len([s for s in statements[before:] if "send_messages" in s]) == 2


async def test_a_send_the_database_refuses_fails_alone_not_with_its_batch(
    client, settings, conn, alice, bob
):
    await befriend(client, alice, bob)
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    chat_id = (await resp.json())["id"]
    # A rule the database holds and the server does not know of (a constraint added
    # by an operator, say).
    await conn.execute(
        """
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.body = 'poison' THEN RAISE EXCEPTION 'no poison here'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT ON message
        FOR EACH ROW EXECUTE FUNCTION refuse_poison();
        """
    )
    sends = [(alice, {"body": body}) for body in ("one", "two", "poison", "three", "four")]
    answers = await sends_held_by_the_chats_lock(client, settings, conn, chat_id, sends)

    assert [r.status for r in answers] == [201, 201, 500, 201, 201]
    stored = await conn.fetch(
        "SELECT seq, body FROM message WHERE chat_sesh_id = $1 ORDER BY seq", chat_id
    )
    assert [(r["seq"], r["body"]) for r in stored] == [
        (1, "one"), (2, "two"), (3, "three"), (4, "four")
    ]  # fmt: skip


async def test_sends_to_different_chats_that_arrive_meanwhile_go_in_one_transaction(
    aiohttp_client, settings, conn, monkeypatch
):
    monkeypatch.setattr(Sends, "SLOW", 60.0)  # the held batches keep counting
    client = await aiohttp_client(create_app(settings))
    alice, bob, carol, dave, erin = [
        await sign_up(client, name) for name in ("alice", "bob", "carol", "dave", "erin")
    ]
    for friend in (bob, carol, dave, erin):
        await befriend(client, alice, friend)
    held, other_held, direct, gone = [
        (await new_chat(client, alice, [friend.username]))["id"]
        for friend in (bob, carol, dave, erin)
    ]
    group = (await new_chat(client, alice, [bob.username], name="g"))["id"]
    resp = await client.delete(f"/v1/friends/{erin.id}", headers=alice.headers)
    assert resp.status == 204

    # Both batches the server sends at once wait for a chat's lock...
    assert Sends.AT_ONCE == 2
    async with batches_held_by_chat_locks(
        client, settings, conn, alice, (held, other_held)
    ) as requests:
        # ...so these wait in the server, whatever their chats.
        for chat_id in (direct, group, gone, 2**40):
            requests.append(asyncio.create_task(post_message(client, alice, chat_id, "hi")))
            await queued_in_the_server(client, chat_id)
    answers = await asyncio.gather(*requests)

    assert [r.status for r in answers] == [201, 201, 201, 201, 403, 404]
    assert (await error_of(answers[4]))[1] == "not_friends"
    assert [(await r.json())["seq"] for r in answers[:4]] == [1, 1, 1, 1]
    # An event's id is its transaction's id * 1024 + its number in it (schema.sql).
    transactions = {
        chat_id: await conn.fetchval(
            "SELECT e.id >> 10 FROM event e JOIN message m ON m.id = e.message_id"
            " WHERE m.chat_sesh_id = $1 AND m.seq = 1",
            chat_id,
        )
        for chat_id in (held, other_held, direct, group)
    }
    assert transactions[direct] == transactions[group]
    assert len({transactions[held], transactions[other_held], transactions[direct]}) == 3


async def test_workers_share_the_batches_on_their_way(aiohttp_client, settings, conn, monkeypatch):
    """With --workers 2, each process sends one batch at a time, not AT_ONCE: two
    processes' batches at once are as many as one process's, and as large."""
    monkeypatch.setattr(Sends, "SLOW", 60.0)  # the held batch keeps counting
    client = await aiohttp_client(create_app(replace(settings, workers=2)))
    alice, bob, carol = [await sign_up(client, name) for name in ("alice", "bob", "carol")]
    for friend in (bob, carol):
        await befriend(client, alice, friend)
    held, free = [(await new_chat(client, alice, [f.username]))["id"] for f in (bob, carol)]

    async with batches_held_by_chat_locks(client, settings, conn, alice, (held,)) as stuck:
        waiting = asyncio.create_task(post_message(client, alice, free, "after the held one"))
        await queued_in_the_server(client, free)
        await asyncio.sleep(0.1)
        assert not waiting.done()
    answers = await asyncio.gather(*stuck, waiting)
    assert [r.status for r in answers] == [201, 201]


async def test_a_batch_takes_a_groups_lock_before_any_pairs(client, settings, conn, alice, bob):
    """A group's lock, then a pair's: the order adding someone to a group takes them in
    (chaat/chats.py), so a batch and an addition never wait for each other."""
    await befriend(client, alice, bob)
    direct = (await new_chat(client, alice, ["bob"]))["id"]
    group = (await new_chat(client, alice, ["bob"], name="g"))["id"]
    adder = await asyncpg.connect(settings.database_url)
    sender = await asyncpg.connect(settings.database_url)
    try:
        async with adder.transaction():
            await adder.execute("SELECT pg_advisory_xact_lock(chat_lock_key($1))", group)
            batch = asyncio.create_task(
                sender.fetch(
                    "SELECT outcome FROM send_messages($1, $2, $3, $4, $5, NULL, NULL, NULL)",
                    [direct, group],
                    [alice.id, alice.id],
                    ["to bob", "to the group"],
                    [None, None],
                    [None, None],
                )
            )
            await waiting_for_a_lock(conn, 1)
            assert await adder.fetchval(
                "SELECT pg_try_advisory_xact_lock(pair_lock_key($1, $2))", alice.id, bob.id
            ), "the batch holds the pair's lock while it waits for the group's"
        assert [r["outcome"] for r in await batch] == ["sent", "sent"]
    finally:
        await adder.close()
        await sender.close()


async def test_a_batch_spends_its_senders_limits_in_one_order(client, settings, conn, alice, bob):
    """Two batches that spend the same two senders' limits lock their rows in one order
    (by key), so neither holds one while it waits for the other's."""
    await befriend(client, alice, bob)
    direct = (await new_chat(client, alice, ["bob"]))["id"]
    group = (await new_chat(client, alice, ["bob"], name="g"))["id"]
    await conn.execute(
        "INSERT INTO rate_limit (key, tat) VALUES ('test:a', now()), ('test:b', now())"
    )
    other = await asyncpg.connect(settings.database_url)
    sender = await asyncpg.connect(settings.database_url)
    try:
        async with other.transaction():
            await other.execute("SELECT FROM rate_limit WHERE key = 'test:a' FOR UPDATE")
            batch = asyncio.create_task(
                sender.fetch(
                    "SELECT wait, outcome FROM send_messages($1, $2, $3, $4, $5, $6, $7, $8)",
                    [direct, group],
                    [alice.id, bob.id],
                    ["from alice", "from bob"],
                    [None, None],
                    [None, None],
                    ["test:b", "test:a"],  # the order of the batch, not of the keys
                    [10, 10],
                    [1.0, 1.0],
                )
            )
            await waiting_for_a_lock(conn, 1, wait_event="transactionid")
            await other.execute("SELECT FROM rate_limit WHERE key = 'test:b' FOR UPDATE NOWAIT")
        assert [tuple(r) for r in await batch] == [(0, "sent"), (0, "sent")]
    finally:
        await other.close()
        await sender.close()


async def test_a_batch_held_up_by_a_lock_holds_up_only_its_own_chats(
    aiohttp_client, settings, conn, monkeypatch
):
    monkeypatch.setattr(Sends, "SLOW", 0.05)
    client = await aiohttp_client(create_app(settings))
    alice, bob, carol, dave = [
        await sign_up(client, name) for name in ("alice", "bob", "carol", "dave")
    ]
    for friend in (bob, carol, dave):
        await befriend(client, alice, friend)
    held, other_held, free = [
        (await new_chat(client, alice, [friend.username]))["id"] for friend in (bob, carol, dave)
    ]
    async with batches_held_by_chat_locks(
        client, settings, conn, alice, (held, other_held)
    ) as stuck:
        # AT_ONCE batches wait for locks held elsewhere: a send to another chat
        # still goes, and so does a second send to a held chat's... after it.
        resp = await asyncio.wait_for(post_message(client, alice, free, "not held up"), 5)
        assert resp.status == 201
        later = asyncio.create_task(post_message(client, alice, held, "after held"))
        await asyncio.sleep(0.2)
        assert not later.done()
        assert not any(task.done() for task in stuck)
    assert [r.status for r in await asyncio.gather(*stuck, later)] == [201, 201, 201]
    assert [(await r.json())["seq"] for r in (*[t.result() for t in stuck], later.result())] == [
        1,
        1,
        2,
    ]
