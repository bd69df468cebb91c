"""Every test gets its own real PostgreSQL database, copied from a template.

The server is DATABASE_URL when set, else an embedded PostgreSQL started once
for the session. The template is built by the migrations once per test process;
`CREATE DATABASE ... TEMPLATE` then gives each test an empty copy in milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chaat import migrate, protocol
from chaat.app import create_app
from chaat.settings import Settings

pytest_plugins = ["log_scan"]

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: pyproject.toml, schema.sql, the Dockerfile."""

PASSWORD = "correct horse battery"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
"""The one shape of every timestamp in the API."""


def with_database(url: str, name: str) -> str:
    """url with its database name replaced."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server to make databases on."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    from chaat import embedded

    with tempfile.TemporaryDirectory(prefix="chaat-test-") as tmp:
        os.chmod(tmp, 0o711)  # as root, the PostgreSQL user must pass through to pg/
        user = embedded.user_to_run_as(os.environ.get("CHAAT_PG_USER") or "nobody")
        with embedded.postgres(Path(tmp) / "pg", user=user) as url:
            yield url


@pytest.fixture(scope="session")
async def template(server_url: str) -> AsyncIterator[str]:
    """A database with every migration applied, to copy for each test; dropped at the end."""
    name = f"chaat_template_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(with_database(server_url, name))
        try:
            await migrate.upgrade(conn)
        finally:
            await conn.close()
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(server_url: str, template: str) -> AsyncIterator[str]:
    """A fresh database with the schema, for this test only."""
    name = f"chaat_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes databases with no schema at all (a new deployment's); drops them at the end."""
    admin = await asyncpg.connect(server_url)
    names: list[str] = []

    async def make() -> str:
        names.append(f"chaat_empty_{uuid.uuid4().hex[:12]}")
        await admin.execute(f'CREATE DATABASE "{names[-1]}"')
        return with_database(server_url, names[-1])

    yield make
    for name in names:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
def aiohttp_client(database_url: str, aiohttp_client: Any) -> Any:
    """pytest-aiohttp's aiohttp_client, set up after the test's database so that its
    apps shut down before the database is dropped (teardown runs in reverse)."""
    return aiohttp_client


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Cheap Argon2 parameters: the tests make hundreds of hashes, and the
    # production parameters are checked in test_security.py.
    return replace(
        Settings(),
        database_url=database_url,
        secret_key=secrets.token_urlsafe(32),
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        # The suite signs up hundreds of users from 127.0.0.1; test_limits.py turns
        # the limits on.
        rate_limits=None,
    )


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    # With the access log `chaat serve` writes (chaat.protocol), not aiohttp's, which
    # shows query strings: tests/log_scan.py holds the suite's logs to what we promise.
    server = TestServer(create_app(settings))
    await server.start_server(access_log_class=protocol.AccessLog)
    return await aiohttp_client(server)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database, to look at what is stored."""
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@dataclass
class User:
    """A signed-up, logged-in user, as the tests drive them."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(client: TestClient, username: str, password: str = PASSWORD) -> User:
    """Register username and log in."""
    resp = await client.post("/v1/users", json={"username": username, "password": password})
    assert resp.status == 201, await resp.text()
    resp = await client.post("/v1/tokens", json={"username": username, "password": password})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return User(id=body["user"]["id"], username=username, token=body["token"])


async def befriend(client: TestClient, a: User, b: User) -> None:
    """Make a and b friends through the API."""
    resp = await client.post("/v1/friend-requests", json={"to": b.username}, headers=a.headers)
    assert resp.status == 201, await resp.text()
    request_id = (await resp.json())["id"]
    resp = await client.patch(
        f"/v1/friend-requests/{request_id}", json={"status": "accepted"}, headers=b.headers
    )
    assert resp.status == 200, await resp.text()


@pytest.fixture
async def alice(client: TestClient) -> User:
    return await sign_up(client, "alice")


@pytest.fixture
async def bob(client: TestClient) -> User:
    return await sign_up(client, "bob")


@pytest.fixture
async def carol(client: TestClient) -> User:
    return await sign_up(client, "carol")


async def error_of(resp: Any) -> tuple[int, str]:
    """(status, error code) of an error answer, checking the envelope on the way."""
    body = await resp.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return resp.status, body["error"]["code"]


async def problem_fields(resp: Any, code: str = "validation_error") -> set[str]:
    """The fields a 422 answer names in its details, checking the envelope on the way."""
    assert await error_of(resp) == (422, code)
    details = (await resp.json())["error"]["details"]
    assert details, "every 422 carries at least one details entry"
    assert all(isinstance(d["problem"], str) and d["problem"] for d in details), details
    return {d["field"] for d in details}


async def new_chat(client: TestClient, who: User, participants: list[Any], **body: Any) -> Any:
    """A chat made through the API, asserting success; answers the chat."""
    resp = await client.post(
        "/v1/chats", json={"participants": participants, **body}, headers=who.headers
    )
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_chaat(
    env: dict[str, str], *args: str, log_level: str = "WARNING", stderr: Any = None
) -> tuple[asyncio.subprocess.Process, str]:
    """A real `chaat serve` process with env, and its base URL once it answers; its log
    goes to stderr (a file, say), else to the suite's."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chaat",
        "serve",
        "--port",
        str(port),
        *args,
        env={"CHAAT_RATE_LIMITS": "off", **env, "CHAAT_LOG_LEVEL": log_level},
        stderr=stderr,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await until_healthy(base, server)
    except AssertionError:
        server.kill()
        raise
    return server, base


async def until_healthy(base: str, server: asyncio.subprocess.Process | None = None) -> None:
    """Wait until the chaat serve at base answers /v1/health; fail if server exits first."""
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{base}/v1/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            if server is not None and server.returncode is not None:
                raise AssertionError(f"chaat serve exited with status {server.returncode}")
            await asyncio.sleep(0.1)
    raise AssertionError(f"chaat serve at {base} never answered /v1/health")
