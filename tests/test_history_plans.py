"""Fast at any depth: history pages are index range scans, the chat list is one statement.

The plans are read with EXPLAIN from the exact SQL the server runs (aiosql's `.sql`),
on a chat of 100,000 messages written with one INSERT ... generate_series.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from conftest import befriend, sign_up

from chaat import keys
from chaat.app import create_app
from chaat.db import queries
from chaat.validation import MAX_ID

DEPTH = 100_000
LIMIT = 50


def plan_nodes(node):
    """Every node of an EXPLAIN (FORMAT JSON) plan tree, depth first."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


async def explain(conn, sql, *args, analyze=False):
    """The plan tree of one statement."""
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    raw = await conn.fetchval(f"EXPLAIN ({options}) {sql}", *args)
    plans = json.loads(raw) if isinstance(raw, str) else raw
    assert len(plans) == 1, "one statement, one plan"
    return plans[0]["Plan"]


async def generic_plan(conn, sql, *args):
    """The plan a prepared statement settles on after its first runs (no parameter values)."""
    await conn.execute(f"PREPARE history_page AS {sql.rstrip().rstrip(';')}")
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        # EXECUTE takes no bind parameters; the values are integers, written out.
        values = ", ".join(str(int(arg)) for arg in args)
        return await explain(conn, f"EXECUTE history_page({values})")
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE history_page")


def assert_range_scan(plan, direction, *, most_rows=None):
    """An index range scan of message_chat_seq in that direction: no Seq Scan, no Sort."""
    nodes = list(plan_nodes(plan))
    kinds = [n["Node Type"] for n in nodes]
    scanned = [(n["Node Type"], n.get("Relation Name")) for n in nodes]
    assert ("Seq Scan", "message") not in scanned, scanned
    assert not any("Sort" in kind for kind in kinds), kinds
    scans = [n for n in nodes if n.get("Relation Name") == "message"]
    assert len(scans) == 1, kinds
    (scan,) = scans
    assert scan["Node Type"] == "Index Scan", scan["Node Type"]
    assert scan["Index Name"] == "message_chat_seq"
    assert scan["Scan Direction"] == direction
    if most_rows is not None:
        # However deep the chat, a page reads at most a page (and one more for has_more).
        assert scan["Actual Rows"] <= most_rows, scan["Actual Rows"]


async def history(client, who, chat_id, query=""):
    resp = await client.get(f"/v1/chats/{chat_id}/messages{query}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return [m["seq"] for m in body["items"]], body["has_more"], body["items"]


async def test_history_of_a_100k_chat_reads_only_its_page(client, conn, alice, bob, carol):
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    chat_id = (await resp.json())["id"]
    # A second chat, so the index holds more than one chat's rows.
    resp = await client.post("/v1/users/carol/messages", json={"body": "x"}, headers=alice.headers)
    assert resp.status == 201
    await conn.execute(
        """
        INSERT INTO message (chat_sesh_id, seq, sender_id, body)
        SELECT $1, g, CASE WHEN g % 2 = 0 THEN $2::bigint ELSE $3::bigint END, 'm' || g
        FROM generate_series(1, $4::bigint) g
        """,
        chat_id,
        alice.id,
        bob.id,
        DEPTH,
    )
    await conn.execute("UPDATE chat_sesh SET last_seq = $2 WHERE id = $1", chat_id, DEPTH)
    await conn.execute("ANALYZE")

    before_sql = queries.messages.list_before.sql
    after_sql = queries.messages.list_after.sql
    page = LIMIT + 1  # the server asks for one more row to answer has_more
    for before in (MAX_ID, DEPTH // 2, 50):
        plan = await explain(conn, before_sql, chat_id, bob.id, before, page, analyze=True)
        assert_range_scan(plan, "Backward", most_rows=page)
        generic = await generic_plan(conn, before_sql, chat_id, bob.id, before, page)
        assert_range_scan(generic, "Backward")
    for after in (0, DEPTH // 2, DEPTH - 10):
        plan = await explain(conn, after_sql, chat_id, bob.id, after, page, analyze=True)
        assert_range_scan(plan, "Forward", most_rows=page)
        generic = await generic_plan(conn, after_sql, chat_id, bob.id, after, page)
        assert_range_scan(generic, "Forward")

    # A page reads each message's stored JSON (message.api_json): no JSON is built and
    # no sender looked up per row.
    for sql, bound in ((before_sql, MAX_ID), (after_sql, 0)):
        plan = await conn.fetch(f"EXPLAIN VERBOSE {sql}", chat_id, bob.id, bound, page)
        text = "\n".join(row[0] for row in plan)
        assert "m.api_json" in text, text
        assert "app_user" not in text, text
        assert "row_to_json" not in text, text

    # The pages themselves, through the API.
    seqs, has_more, items = await history(client, bob, chat_id)
    assert (seqs, has_more) == (list(range(DEPTH - LIMIT + 1, DEPTH + 1)), True)
    assert items[-1]["body"] == f"m{DEPTH}"
    assert items[-1]["sender"]["id"] == alice.id
    seqs, has_more, items = await history(client, bob, chat_id, "?before=50")
    assert (seqs, has_more) == (list(range(1, 50)), False)
    assert [m["body"] for m in items] == [f"m{i}" for i in range(1, 50)]
    assert {m["chat_id"] for m in items} == {chat_id}
    seqs, has_more, _ = await history(client, bob, chat_id, "?before=52")
    assert (seqs, has_more) == (list(range(2, 52)), True)
    seqs, has_more, _ = await history(client, bob, chat_id, "?after=0&limit=200")
    assert (seqs, has_more) == (list(range(1, 201)), True)
    seqs, has_more, _ = await history(client, bob, chat_id, f"?after={DEPTH - 3}")
    assert (seqs, has_more) == ([DEPTH - 2, DEPTH - 1, DEPTH], False)
    seqs, has_more, _ = await history(client, bob, chat_id, "?before=50001&limit=3")
    assert (seqs, has_more) == ([49998, 49999, 50000], True)

    # A send after the bulk continues the numbering.
    resp = await client.post(
        f"/v1/chats/{chat_id}/messages", json={"body": "next"}, headers=bob.headers
    )
    assert (await resp.json())["seq"] == DEPTH + 1
    resp = await client.get(f"/v1/chats/{chat_id}", headers=alice.headers)
    chat = await resp.json()
    assert chat["last_message"]["seq"] == DEPTH + 1
    assert chat["unread_count"] == DEPTH // 2 + 1  # bob's: the odd seqs, and "next"


@pytest.fixture
async def one_connection_client(aiohttp_client, settings):
    """A client whose server has a pool of one connection, so its statements can be watched."""
    return await aiohttp_client(create_app(replace(settings, pool_size=1)))


async def test_the_chat_list_of_30_chats_is_one_statement(one_connection_client, conn):
    client = one_connection_client
    alice = await sign_up(client, "alice")
    friends = [await sign_up(client, name) for name in ("bob", "carol", "dave")]
    for friend in friends:
        await befriend(client, alice, friend)
    rng = random.Random(30)
    made = []  # (chat, {username: messages from them})
    for i in range(30):
        members = friends[: 1 + i % 3]
        if i < 3:
            body = {"participants": [friends[i].username]}
            members = [friends[i]]
        else:
            body = {"participants": [m.username for m in members], "name": f"group {i}"}
        resp = await client.post("/v1/chats", json=body, headers=alice.headers)
        assert resp.status == 201
        made.append(((await resp.json()), members))
    activity = [chat["id"] for chat, _ in made]  # oldest activity first
    sent = {chat["id"]: [] for chat, _ in made}
    for chat, members in rng.sample(made, 20):
        for who in rng.sample([alice, *members], 2):
            resp = await client.post(
                f"/v1/chats/{chat['id']}/messages",
                json={"body": f"from {who.username}"},
                headers=who.headers,
            )
            assert resp.status == 201
            sent[chat["id"]].append(await resp.json())
        activity.remove(chat["id"])
        activity.append(chat["id"])
    # Alice reads one chat that has messages from others, so its unread count must drop to 0.
    read = next(
        chat_id
        for chat_id, messages in sent.items()
        if any(m["sender"]["id"] != alice.id for m in messages)
    )
    seq = sent[read][-1]["seq"]
    resp = await client.post(f"/v1/chats/{read}/read", json={"seq": seq}, headers=alice.headers)
    assert resp.status == 204

    # Watch every statement the server's one connection runs while it answers.
    # (asyncpg's own query logger: it observes, and changes nothing the server does.)
    statements = []

    def log(record):
        statements.append(record.query)

    pool = client.app[keys.pool]
    async with pool.acquire() as server_conn:
        server_conn.add_query_logger(log)
    resp = await client.get("/v1/chats", headers=alice.headers)
    assert resp.status == 200
    items = (await resp.json())["items"]
    async with pool.acquire() as server_conn:
        server_conn.remove_query_logger(log)
    assert statements, "the logger saw the request"

    chat_sql = {
        getattr(module, name).sql
        for module in (queries.chats, queries.participants, queries.messages)
        for name in module.available_queries
    }
    assert [s for s in statements if s in chat_sql] == [queries.chats.list_for_user.sql]

    # And the answer is right for every one of the 30 chats.
    assert [c["id"] for c in items] == activity[::-1]
    members_of = {chat["id"]: members for chat, members in made}
    for chat in items:
        expected_members = sorted([alice.id, *(m.id for m in members_of[chat["id"]])])
        assert [u["id"] for u in chat["participants"]] == expected_members
        messages = sent[chat["id"]]
        assert chat["last_message"] == (messages[-1] if messages else None)
        from_others = [m for m in messages if m["sender"]["id"] != alice.id]
        expected_unread = 0 if chat["id"] == read else len(from_others)
        assert chat["unread_count"] == expected_unread, chat["id"]

    # One statement, one plan: chat_json builds each chat inside it.
    plan = await explain(conn, queries.chats.list_for_user.sql, alice.id, None)
    assert plan["Node Type"] == "Sort"
    assert plan["Sort Key"] == ["c.last_activity_at DESC", "c.id DESC"]


async def test_the_server_plans_each_statement_once(client, alice, bob):
    """PostgreSQL would plan a history page again on every request (its generic plan
    looks costlier with `LIMIT $n`), spending more time planning than reading: the
    server's connections keep one generic plan per statement."""
    await befriend(client, alice, bob)
    resp = await client.post("/v1/chats", json={"participants": ["bob"]}, headers=alice.headers)
    chat_id = (await resp.json())["id"]
    for n in range(8):  # PostgreSQL weighs custom plans against the generic after 5 runs
        resp = await client.post(
            f"/v1/chats/{chat_id}/messages", json={"body": f"m{n}"}, headers=alice.headers
        )
        assert resp.status == 201
        await history(client, bob, chat_id, f"?limit={n + 1}")
        await history(client, bob, chat_id, f"?after={n}")
        resp = await client.get("/v1/chats", headers=bob.headers)
        assert resp.status == 200

    pool = client.app[keys.pool]
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        plans = [
            row
            for conn in held
            for row in await conn.fetch(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
            )
        ]
    finally:
        for conn in held:
            await pool.release(conn)
    assert any("seq <" in row["statement"] and row["generic_plans"] >= 8 for row in plans), plans
    assert [row["statement"] for row in plans if row["custom_plans"]] == []


async def test_every_sql_function_is_one_expression(conn):
    """PostgreSQL inlines an SQL function only when its body is one expression with no
    query inside; any other it plans again on every call before PostgreSQL 18 (365 µs
    for chat_json on 15). Such functions are PL/pgSQL, which keeps their plans."""
    functions = await conn.fetch(
        """
        SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.pronamespace = 'public'::regnamespace AND l.lanname = 'sql'
        """
    )
    assert {f["proname"] for f in functions} >= {"message_json", "user_json", "rfc3339"}
    with_queries = [f["proname"] for f in functions if f["prosrc"].upper().count("SELECT") != 1]
    assert with_queries == []
