"""Schema migrations: a 1.0 database upgrades with its data, schema.sql agrees with the
migrations, concurrent starts apply each migration once, a failure changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from conftest import PASSWORD, ROOT, TIMESTAMP

from chaat import migrate
from chaat.app import create_app
from chaat.security import Passwords

MIGRATIONS = migrate.load()
CHAAT_1_0 = MIGRATIONS[0]
"""The schema of Chaat 1.0, whose databases predate migrations."""

# Everything that makes up a schema, each as comparable text.
CATALOG = {
    "columns": """
        SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
               || CASE a.attidentity WHEN '' THEN '' ELSE ' identity ' || a.attidentity::text END
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'schema_migration'
    """,
    "constraints": """
        SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace
          AND conrelid::regclass::text <> 'schema_migration'
    """,
    "indexes": """
        SELECT indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> 'schema_migration'
    """,
    "functions": """
        SELECT pg_get_functiondef(oid) FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace
    """,
    "triggers": "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    # id_shift depends on the ids a database had handed out before (migration 0003).
    "rows": "SELECT 'event_horizon ' || (to_jsonb(h) - 'id_shift')::text FROM event_horizon h",
}


async def catalog(conn: asyncpg.Connection) -> dict[str, list[str]]:
    return {
        what: sorted(await conn.fetchval(f"SELECT array_agg(x) FROM ({sql}) AS t(x)") or [])
        for what, sql in CATALOG.items()
    }


async def test_the_migration_files_are_numbered_from_one():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) >= 2
    assert all(m.name.startswith(f"{m.version:04}_") for m in MIGRATIONS)


async def test_a_fresh_database_ends_exactly_as_schema_sql_describes(empty_database):
    migrated = await asyncpg.connect(await empty_database())
    described = await asyncpg.connect(await empty_database())
    try:
        assert [m.name for m in await migrate.upgrade(migrated)] == [m.name for m in MIGRATIONS]
        await described.execute((ROOT / "schema.sql").read_text())
        ours, theirs = await catalog(migrated), await catalog(described)
        assert all(ours.values())
        for what in CATALOG:
            assert ours[what] == theirs[what], what
    finally:
        await migrated.close()
        await described.close()


async def test_a_chaat_1_0_database_upgrades_with_its_data(
    empty_database, aiohttp_client, settings
):
    url = await empty_database()
    conn = await asyncpg.connect(url)
    try:
        # A 1.0 deployment: its schema.sql, users, a friendship, a group and its messages.
        await conn.execute(CHAAT_1_0.sql)
        status = await migrate.status(conn)
        assert (status.version, status.legacy) == (0, True)
        assert status.pending == MIGRATIONS
        hashed = await Passwords(time_cost=1, memory_cost=1024).hash(PASSWORD)
        alice, bob = [
            await conn.fetchval(
                "INSERT INTO app_user (username, display_name, password_hash)"
                " VALUES ($1, $1, $2) RETURNING id",
                name,
                hashed,
            )
            for name in ("alice", "bob")
        ]
        await conn.execute(
            "INSERT INTO friendship (user_low, user_high) VALUES ($1, $2)", alice, bob
        )
        group = await conn.fetchval(
            "INSERT INTO chat_sesh (kind, name, created_by, last_seq)"
            " VALUES ('group', 'Weekend', $1, 2) RETURNING id",
            alice,
        )
        await conn.execute(
            "INSERT INTO chat_participant (chat_sesh_id, user_id) VALUES ($1, $2), ($1, $3)",
            group,
            alice,
            bob,
        )
        await conn.execute(
            "INSERT INTO message (chat_sesh_id, seq, sender_id, body, client_id)"
            " VALUES ($1, 1, $2, 'hello', NULL), ($1, 2, $3, 'hi alice', 'b-1')",
            group,
            alice,
            bob,
        )
        # Its live events came from a sequence, far along by now; bob hears the group.
        await conn.execute("ALTER TABLE event ALTER COLUMN id RESTART WITH 1000000000000")
        old_event = await conn.fetchval(
            "INSERT INTO event (chat_sesh_id, type, data) VALUES ($1, 'chat.created', '{}')"
            " RETURNING id",
            group,
        )
        await conn.execute(
            "INSERT INTO chat_membership (chat_sesh_id, user_id, from_event_id)"
            " VALUES ($1, $2, $3), ($1, $4, $3)",
            group,
            alice,
            old_event,
            bob,
        )
        # 1.0 refused nameless groups.
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO chat_sesh (kind, created_by) VALUES ('group', $1)", alice
            )
    finally:
        await conn.close()

    # The server starts on it, upgrades it, and everything is still there.
    client = await aiohttp_client(create_app(replace(settings, database_url=url)))
    resp = await client.post("/v1/tokens", json={"username": "bob", "password": PASSWORD})
    assert resp.status == 201
    headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    resp = await client.get(f"/v1/chats/{group}/messages", headers=headers)
    old_messages = (await resp.json())["items"]
    assert [m["body"] for m in old_messages] == ["hello", "hi alice"]
    assert [m["sender"] for m in old_messages] == [
        {"id": alice, "username": "alice"},
        {"id": bob, "username": "bob"},
    ]
    assert [m["client_id"] for m in old_messages] == [None, "b-1"]
    assert all(TIMESTAMP.fullmatch(m["created_at"]) for m in old_messages)
    # Search finds the old messages by their words (0013 rebuilt the words column).
    resp = await client.get("/v1/messages", params={"q": "ALI"}, headers=headers)
    assert [m["body"] for m in (await resp.json())["items"]] == ["hi alice"]
    resp = await client.get("/v1/friends", headers=headers)
    assert [f["user"]["username"] for f in (await resp.json())["items"]] == ["alice"]
    # A client that saw the last 1.0 event resumes after it: new ids come above old ones.
    ws = await client.ws_connect(f"/v1/events?since={old_event}", headers=headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    resp = await client.post("/v1/tokens", json={"username": "alice", "password": PASSWORD})
    alice_headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    resp = await client.post(
        f"/v1/chats/{group}/messages", json={"body": "after the upgrade"}, headers=alice_headers
    )
    assert resp.status == 201
    event = await ws.receive_json(timeout=5)
    assert (event["type"], event["data"]["body"]) == ("message.created", "after the upgrade")
    assert event["id"] > old_event
    await ws.close()
    # A 1.0 send retried after the upgrade is still recognised, and 1.1 works on old rows.
    retry = {"body": "hi alice", "client_id": "b-1"}
    resp = await client.post(f"/v1/chats/{group}/messages", json=retry, headers=headers)
    assert (resp.status, (await resp.json())["seq"]) == (200, 2)
    resp = await client.put(f"/v1/chats/{group}/messages/1/reactions/ok", headers=headers)
    assert (await resp.json())["reactions"] == [{"emoji": "ok", "user_ids": [bob]}]
    # And the new rules hold: a group without a name.
    resp = await client.post(
        "/v1/chats", json={"participants": ["alice"], "kind": "group"}, headers=headers
    )
    assert (resp.status, (await resp.json())["name"]) == (201, None)

    conn = await asyncpg.connect(url)
    fresh = await asyncpg.connect(await empty_database())
    try:
        status = await migrate.status(conn)
        assert (status.version, status.pending, status.legacy) == (len(MIGRATIONS), [], False)
        # Each message's stored JSON (0020) is what message_json() makes of it now.
        stale = await conn.fetchval(
            "SELECT count(*) FROM message m JOIN app_user s ON s.id = m.sender_id"
            " WHERE m.api_json::text <> message_json(m, s)::text"
        )
        assert (await conn.fetchval("SELECT count(*) FROM message"), stale) == (3, 0)
        await migrate.upgrade(fresh)
        assert await catalog(conn) == await catalog(fresh)
    finally:
        await conn.close()
        await fresh.close()


async def test_upgrading_an_up_to_date_database_changes_nothing(client, conn, alice, bob):
    before = await conn.fetch("SELECT * FROM app_user ORDER BY id")
    shape = await catalog(conn)
    assert await migrate.upgrade(conn) == []
    assert await migrate.upgrade(conn) == []
    assert await conn.fetch("SELECT * FROM app_user ORDER BY id") == before
    assert await catalog(conn) == shape


async def test_concurrent_starts_apply_each_migration_exactly_once(empty_database):
    url = await empty_database()
    # Not idempotent on purpose: a second run would add a second row.
    counted = [
        *MIGRATIONS,
        migrate.Migration(
            len(MIGRATIONS) + 1,
            f"{len(MIGRATIONS) + 1:04}_count.sql",
            "CREATE TABLE IF NOT EXISTS runs (n int); INSERT INTO runs VALUES (1);",
        ),
    ]
    conns = [await asyncpg.connect(url) for _ in range(6)]
    try:
        applied = await asyncio.gather(*(migrate.upgrade(c, counted) for c in conns))
        # Exactly one start applied each migration; the others found nothing to do.
        assert sorted(len(a) for a in applied) == [0] * 5 + [len(counted)]
        assert await conns[0].fetchval("SELECT count(*) FROM runs") == 1
        versions = await conns[0].fetch("SELECT version FROM schema_migration ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in counted]
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_migration_leaves_the_previous_version_and_says_so(empty_database):
    conn = await asyncpg.connect(await empty_database())
    broken = migrate.Migration(
        len(MIGRATIONS) + 1,
        f"{len(MIGRATIONS) + 1:04}_broken.sql",
        "CREATE TABLE half_done (x int); ALTER TABLE app_user ADD COLUMN x int; SELECT 1/0;",
    )
    try:
        with pytest.raises(migrate.MigrationError) as failure:
            await migrate.upgrade(conn, [*MIGRATIONS, broken])
        message = str(failure.value)
        assert broken.name in message
        assert "division by zero" in message
        assert f"stays at schema version {len(MIGRATIONS)}" in message
        # Everything before it is applied; nothing of it is.
        status = await migrate.status(conn, [*MIGRATIONS, broken])
        assert (status.version, status.pending) == (len(MIGRATIONS), [broken])
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'app_user'"
        )
        assert "x" not in {c["column_name"] for c in columns}
        # The lock was released: a fixed migration goes through.
        fixed = migrate.Migration(broken.version, broken.name, "CREATE TABLE done (x int);")
        assert await migrate.upgrade(conn, [*MIGRATIONS, fixed]) == [fixed]
    finally:
        await conn.close()


async def test_a_database_newer_than_the_code_is_refused(empty_database):
    conn = await asyncpg.connect(await empty_database())
    try:
        await migrate.upgrade(conn)
        with pytest.raises(migrate.MigrationError, match="newer than this Chaat"):
            await migrate.upgrade(conn, MIGRATIONS[:-1])
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (["0001_a.sql", "0003_c.sql"], "expected migration number 0002"),
        (["0002_b.sql"], "expected migration number 0001"),
        (["0001_a.sql", "2_b.sql"], "NNNN_what_it_does.sql"),
        (["0001_a.sql", "0001_again.sql"], "expected migration number 0002"),
    ],
)
def test_badly_numbered_migration_files_are_refused(tmp_path, files, problem):
    for name in files:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=problem):
        migrate.load(tmp_path)


def test_loading_ignores_what_is_not_sql(tmp_path: Any):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "__init__.py").write_text("")
    assert [m.name for m in migrate.load(tmp_path)] == ["0001_a.sql"]


async def test_chaat_db_status_and_upgrade(empty_database):
    env = {**os.environ, "DATABASE_URL": await empty_database(), "CHAAT_SECRET_KEY": "x" * 32}

    def chaat_db(action: str) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-m", "chaat", "db", action],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.splitlines()

    names = [m.name for m in MIGRATIONS]
    assert chaat_db("status") == ["schema version 0", *(f"pending {n}" for n in names)]
    assert chaat_db("upgrade") == [*(f"applied {n}" for n in names), f"schema version {len(names)}"]
    assert chaat_db("upgrade") == ["nothing to do", f"schema version {len(names)}"]
    assert chaat_db("status") == [f"schema version {len(names)}"]
