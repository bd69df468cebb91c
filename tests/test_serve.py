"""`chaat serve` as a user runs it: the embedded database, its data folder, workers."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import aiohttp
from conftest import PASSWORD, start_chaat


async def start(data_dir: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """`chaat serve` on the embedded database in data_dir, once it answers."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CHAAT_SECRET_KEY")}
    return await start_chaat(env, "--data-dir", str(data_dir), *args)


async def stop(server: asyncio.subprocess.Process) -> None:
    server.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(server.wait(), 30) == 0


async def test_the_embedded_database_and_key_survive_a_restart(tmp_path):
    data_dir = tmp_path / "chaat-data"
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


async def test_workers_share_one_port_and_one_database(tmp_path):
    server, base = await start(tmp_path / "data", "--workers", "2")
    try:
        async with aiohttp.ClientSession() as session:
            # Fresh connections, so the kernel spreads them over both workers.
            for n in range(6):
                body = {"username": f"user{n}", "password": PASSWORD}
                async with (
                    aiohttp.ClientSession() as fresh,
                    fresh.post(f"{base}/v1/users", json=body) as resp,
                ):
                    assert resp.status == 201
            async with session.post(
                f"{base}/v1/tokens", json={"username": "user0", "password": PASSWORD}
            ) as resp:
                token = (await resp.json())["token"]
            async with session.get(
                f"{base}/v1/users", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert [u["username"] for u in (await resp.json())["items"]] == [
                    f"user{n}" for n in range(6)
                ]
    finally:
        await stop(server)
