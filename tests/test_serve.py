"""`chaat serve` as a user runs it: the embedded database, its data folder, workers, signals."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from conftest import PASSWORD, free_port, start_chaat, until_healthy

ROOT = os.geteuid() == 0


def embedded_env() -> dict[str, str]:
    """Our environment without DATABASE_URL; as root, PostgreSQL runs as CHAAT_PG_USER."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CHAAT_SECRET_KEY")}
    if ROOT:
        env.setdefault("CHAAT_PG_USER", "nobody")
    return env


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A folder for data folders. pytest's tmp_path is private to root (0700), which the
    PostgreSQL user could not pass through; this one is searchable (0711)."""
    folder = Path(tempfile.mkdtemp(prefix="chaat-serve-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def start(data_dir: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """`chaat serve` on the embedded database in data_dir, once it answers."""
    return await start_chaat(embedded_env(), "--data-dir", str(data_dir), *args)


async def stop(server: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> None:
    server.send_signal(signum)
    assert await asyncio.wait_for(server.wait(), 30) == 0


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def system_users() -> str:
    return Path("/etc/passwd").read_text()


def postmasters(pgdata: Path) -> list[int]:
    """The PostgreSQL servers (not their children) working in pgdata, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if Path(os.readlink(entry / "exe")).name != "postgres":
                continue
            if Path(os.readlink(entry / "cwd")) != pgdata.resolve():
                continue
            found[int(entry.name)] = parent_pid(int(entry.name))
        except (OSError, ValueError):
            continue
    return [pid for pid, parent in found.items() if parent not in found]


async def until_no_postmaster(pgdata: Path) -> None:
    for _ in range(100):
        if not postmasters(pgdata):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"PostgreSQL still running in {pgdata}: {postmasters(pgdata)}")


async def test_the_embedded_database_and_key_survive_a_restart(data_root):
    data_dir = data_root / "chaat-data"
    server, base = await start(data_dir)
    try:
        async with aiohttp.ClientSession() as session:
            body = {"username": "alice", "password": PASSWORD}
            async with session.post(f"{base}/v1/users", json=body) as resp:
                assert resp.status == 201
            async with session.post(f"{base}/v1/tokens", json=body) as resp:
                token = (await resp.json())["token"]
    finally:
        await stop(server)

    key = data_dir / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first_key = key.read_text()

    server, base = await start(data_dir)
    try:
        async with aiohttp.ClientSession() as session:
            # The row survived, and so did the key: the old token still works.
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{base}/v1/users/me", headers=headers) as resp:
                assert resp.status == 200
                assert (await resp.json())["username"] == "alice"
    finally:
        await stop(server)
    assert key.read_text() == first_key


async def test_workers_share_one_port_and_one_database(data_root):
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chaat", "serve", "--port", str(port), "--workers", "2"),
        *("--data-dir", str(data_root / "data")),
        env={**embedded_env(), "CHAAT_LOG_LEVEL": "INFO"},
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    # The access log names the process that answered each request.
    served_by: set[int] = set()
    warnings: list[bytes] = []

    async def read_log() -> None:
        assert server.stderr
        async for line in server.stderr:
            if b"Warning" in line:
                warnings.append(line)
            if match := re.search(rb" (\d+) aiohttp\.access: .* status=20\d ", line):
                served_by.add(int(match[1]))

    reader = asyncio.create_task(read_log())
    try:
        await until_healthy(base)
        # Fresh connections, which the kernel spreads over the workers, until both answered.
        for n in range(6):
            body = {"username": f"user{n}", "password": PASSWORD}
            async with (
                aiohttp.ClientSession() as fresh,
                fresh.post(f"{base}/v1/users", json=body) as resp,
            ):
                assert resp.status == 201
        for _ in range(300):
            if len(served_by) >= 2:
                break
            async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/v1/health") as resp:
                assert resp.status == 200
            await asyncio.sleep(0.01)
        assert len(served_by) == 2, served_by
        assert warnings == []
        assert server.pid not in served_by
        for pid in served_by:  # both are this server's workers
            assert parent_pid(pid) == server.pid

        async with aiohttp.ClientSession() as session:
            body = {"username": "user0", "password": PASSWORD}
            async with session.post(f"{base}/v1/tokens", json=body) as resp:
                token = (await resp.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{base}/v1/users", headers=headers) as resp:
                users = [u["username"] for u in (await resp.json())["items"]]
        # Whichever worker wrote a row, every worker reads it.
        assert set(users) >= {f"user{n}" for n in range(6)}
    finally:
        await stop(server)
        reader.cancel()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
async def test_postgresql_stops_with_the_server(data_root, signum):
    data_dir = data_root / "data"
    server, _ = await start(data_dir, "--workers", "2" if signum == signal.SIGHUP else "1")
    assert len(postmasters(data_dir / "pg")) == 1
    await stop(server, signum)
    assert postmasters(data_dir / "pg") == []


async def test_a_killed_server_restarts_on_its_database(data_root):
    parent = data_root / "parent"
    parent.mkdir(mode=0o711)
    parent.chmod(0o711)
    data_dir = parent / "data"
    users = system_users()

    server, _ = await start(data_dir)
    server.kill()
    await server.wait()
    server, _ = await start(data_dir)
    assert len(postmasters(data_dir / "pg")) == 1
    await stop(server, signal.SIGINT)
    assert postmasters(data_dir / "pg") == []

    # A crash of both: the lock file names a pid now taken by another process (ours).
    (data_dir / "pg" / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir / 'pg'}\n")
    server, _ = await start(data_dir)
    assert len(postmasters(data_dir / "pg")) == 1
    await stop(server, signal.SIGINT)
    await until_no_postmaster(data_dir / "pg")

    # Nothing outside the data folder was opened up, and no user was made.
    assert stat.S_IMODE(parent.stat().st_mode) == 0o711
    assert stat.S_IMODE(data_root.stat().st_mode) == 0o711
    assert system_users() == users
