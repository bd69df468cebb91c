"""The wheel is complete: built, installed in a fresh virtual environment away from the
checkout, it serves (migrations, queries and all) and carries the shell."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from conftest import PASSWORD, ROOT, free_port, until_healthy

from chaat import migrate

# Building and installing into a fresh environment downloads the dependencies once.
pytestmark = pytest.mark.timeout(900)

BUILD_CONTEXT = [
    line[1:].strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.startswith("!")
]
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the bin folder of a fresh virtual environment it is installed in)."""
    where = tmp_path_factory.mktemp("wheel")
    # Built from what the Docker build context holds (.dockerignore), copied out of the
    # checkout: that is all a build needs, and builds running at once do not collide.
    source = where / "source"
    source.mkdir()
    for name in BUILD_CONTEXT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=IGNORED)
        else:
            shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", where, source],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = where.glob("chaat-*.whl")
    venv.create(where / "venv", with_pip=True)
    bin_dir = where / "venv" / "bin"
    subprocess.run(
        [bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return wheel, bin_dir


def test_the_wheel_carries_the_sql_the_api_document_the_shell_and_the_web_client(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chaat/openapi.json" in names
    assert "chaat/queries/users/create.sql" in names
    assert {f"chaat/migrations/{m.name}" for m in migrate.load()} <= names
    assert "chaat/repl/shell.py" in names
    web = Path(__file__).resolve().parent.parent / "chaat" / "web"
    assert {f"chaat/{p.relative_to(web.parent)}" for p in web.rglob("*") if p.is_file()} <= names
    # Nothing at the top level but the chaat package and the metadata.
    top = {name.split("/")[0] for name in names}
    assert {entry for entry in top if not entry.endswith(".dist-info")} == {"chaat"}


def test_the_installed_commands_run_away_from_the_checkout(installed, tmp_path):
    _, bin_dir = installed

    def run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run(
            [bin_dir / program, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert run("chaat", "--version").stdout.startswith("chaat ")
    for command in (["--help"], ["repl", "--help"], ["db", "--help"], ["admin", "--help"]):
        result = run("chaat", *command)
        assert result.returncode == 0, result.stderr
    # The shell imports as chaat.repl, not as a top-level `repl` that could collide.
    result = run(
        "python", "-c", "import chaat.repl.shell, importlib.util as u; print(u.find_spec('repl'))"
    )
    assert (result.returncode, result.stdout.strip()) == (0, "None"), result.stderr


async def test_the_installed_server_migrates_an_empty_database_and_serves(
    installed, empty_database, tmp_path
):
    _, bin_dir = installed
    url = await empty_database()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"DATABASE_URL": url, "CHAAT_SECRET_KEY": "x" * 32, "CHAAT_LOG_LEVEL": "WARNING"}
    server = await asyncio.create_subprocess_exec(
        bin_dir / "chaat", "serve", "--port", str(port), cwd=tmp_path, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await until_healthy(base, server)
        async with aiohttp.ClientSession() as session:
            body = {"username": "alice", "password": PASSWORD}
            async with session.post(f"{base}/v1/users", json=body) as resp:
                assert resp.status == 201
            async with session.get(f"{base}/v1/openapi.json") as resp:
                assert (await resp.json())["openapi"].startswith("3.1")
            async with session.get(f"{base}/") as resp:
                assert resp.status == 200
                assert "<title>" in await resp.text()
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
    conn = await asyncpg.connect(url)
    try:
        status = await migrate.status(conn)
    finally:
        await conn.close()
    assert (status.version, status.pending) == (len(migrate.load()), [])
