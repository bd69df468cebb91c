"""GET /v1/messages?q=: search in the caller's own chats, through an index."""

from __future__ import annotations

import json

import pytest
from conftest import befriend, error_of, new_chat, problem_fields
from test_history_plans import plan_nodes
from test_messages import send

from chaat.validation import MAX_ID


async def search(client, who, **params):
    resp = await client.get("/v1/messages", params=params, headers=who.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"items", "has_more"}
    return [m["body"] for m in body["items"]], body["has_more"]


@pytest.fixture
async def chats(client, alice, bob, carol):
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    direct = await new_chat(client, alice, ["bob"])
    other = await new_chat(client, alice, ["carol"])
    return direct, other


async def test_every_word_must_start_a_word_of_the_body(client, alice, bob, chats):
    direct, _ = chats
    for body in ("Hello, World!", "hello there", "the world", "Wörld größe", "x-ray 1.5 mm"):
        await send(client, alice, direct["id"], body)
    assert await search(client, bob, q="hel wor") == (["Hello, World!"], False)
    assert await search(client, bob, q="HELLO") == (["hello there", "Hello, World!"], False)
    assert await search(client, bob, q="orld") == ([], False)  # starts a word, not inside
    assert await search(client, bob, q="wör GRÖ") == (["Wörld größe"], False)
    assert await search(client, bob, q="ray 5") == (["x-ray 1.5 mm"], False)
    assert await search(client, bob, q="'hel' & | !wor:*") == (["Hello, World!"], False)


async def test_only_the_callers_chats_now_and_never_tombstones(client, alice, bob, carol, chats):
    direct, other = chats
    await send(client, alice, direct["id"], "secret plan")
    await send(client, alice, other["id"], "secret party")
    gone = await send(client, alice, direct["id"], "secret regret")
    assert (
        await client.delete(
            f"/v1/chats/{direct['id']}/messages/{gone['seq']}", headers=alice.headers
        )
    ).status == 204
    assert await search(client, alice, q="secret") == (["secret party", "secret plan"], False)
    assert await search(client, bob, q="secret") == (["secret plan"], False)
    assert await search(client, carol, q="secret") == (["secret party"], False)
    assert await search(client, alice, q="secret", chat=other["id"]) == (["secret party"], False)
    for who, chat in ((carol, direct["id"]), (alice, 999)):
        resp = await client.get(
            "/v1/messages", params={"q": "secret", "chat": chat}, headers=who.headers
        )
        assert await error_of(resp) == (404, "not_found")
    # An edit is found by its new words only.
    await client.patch(
        f"/v1/chats/{direct['id']}/messages/1",
        json={"body": "public notice"},
        headers=alice.headers,
    )
    assert await search(client, bob, q="secret") == ([], False)
    assert await search(client, bob, q="notice") == (["public notice"], False)


async def test_pages_go_back_by_message_id(client, alice, bob, chats):
    direct, _ = chats
    sent = [await send(client, alice, direct["id"], f"note {n}") for n in range(5)]
    resp = await client.get("/v1/messages", params={"q": "note", "limit": 2}, headers=bob.headers)
    page = await resp.json()
    assert [m["body"] for m in page["items"]] == ["note 4", "note 3"]
    assert page["has_more"] is True
    assert await search(client, bob, q="note", limit=2, before=page["items"][-1]["id"]) == (
        ["note 2", "note 1"],
        True,
    )
    assert await search(client, bob, q="note", before=sent[1]["id"]) == (["note 0"], False)
    assert await search(client, bob, q="note", before=10**9) == (
        [f"note {n}" for n in range(4, -1, -1)],
        False,
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "... !!"}, "q"),
        ({"q": "a", "chat": "x"}, "chat"),
        ({"q": "a", "chat": "0"}, "chat"),
        ({"q": "a", "limit": "101"}, "limit"),
        ({"q": "a", "limit": "0"}, "limit"),
        ({"q": "a", "before": "-1"}, "before"),
        ({"q": "a", "before": str(MAX_ID + 1)}, "before"),
    ],
)
async def test_bad_queries_are_422_before_anything_else(client, alice, params, field):
    resp = await client.get("/v1/messages", params={**params}, headers=alice.headers)
    assert await problem_fields(resp) == {field}


async def test_a_search_of_100k_messages_reads_the_index(client, conn, alice, bob, chats):
    direct, _ = chats
    await conn.execute(
        """
        INSERT INTO message (chat_sesh_id, seq, sender_id, body)
        SELECT $1, g, $2, 'message number ' || g || CASE WHEN g % 1000 = 0 THEN ' rare' ELSE '' END
        FROM generate_series(1, 100000) g
        """,
        direct["id"],
        alice.id,
    )
    await conn.execute("UPDATE chat_sesh SET last_seq = 100000 WHERE id = $1", direct["id"])
    await conn.execute("ANALYZE")
    # The statement search_messages() EXECUTEs, planned as it plans it: for the values
    # of each call (a generic plan cached for all values read the index once per chat).
    source = await conn.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'search_messages'")
    statement = source.split("$search$")[1]
    for chat_id in (None, direct["id"]):
        raw = await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", bob.id, chat_id, "rar", MAX_ID, 21
        )
        nodes = list(plan_nodes(json.loads(raw)[0]["Plan"]))
        scans = {(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in nodes}
        assert ("Bitmap Index Scan", "message_body_words", None) in scans, scans
        assert ("Seq Scan", None, "message") not in scans, scans
        read = [n for n in nodes if n.get("Index Name") == "message_body_words"]
        assert read[0]["Actual Rows"] <= 100 + 1  # the rare ones, not the 100,000
        assert read[0]["Actual Loops"] == 1
    bodies, has_more = await search(client, bob, q="RAR", limit=3)
    assert bodies == [f"message number {n} rare" for n in (100000, 99000, 98000)]
    assert has_more
