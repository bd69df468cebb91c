"""The `chaat` command fails like a good command-line tool: one line, what to do, exit != 0."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from importlib.metadata import version
from multiprocessing.context import SpawnProcess
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from conftest import free_port, with_database
from test_serve import ROOT, data_root, embedded_env

from chaat import server
from chaat.settings import ConfigError, Settings

__all__ = ["data_root"]  # a fixture, used here too

SECRET = {"CHAAT_SECRET_KEY": "a secret only these tests use"}


def chaat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaat", *args],
        env={**embedded_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one `chaat: ...` line a failed command printed, checking it was all it said."""
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chaat: "), lines
    return lines[0]


@pytest.fixture
async def scratch_url(server_url: str) -> AsyncIterator[str]:
    """An empty database of our own, dropped afterwards (with the role of the same name
    that a test may add: unique, since other test processes may make theirs at once)."""
    name = f"chaat_cli_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await admin.close()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_version():
    done = chaat("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"chaat {version('chaat')}"


def test_port_in_use(busy_port, data_root):
    line = one_line_error(chaat("serve", "--port", str(busy_port), "--data-dir", str(data_root)))
    assert f"127.0.0.1:{busy_port} is already in use" in line
    assert list(data_root.iterdir()) == [], "it started nothing"


def test_database_unreachable():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/chaat"
    line = one_line_error(chaat("serve", env={"DATABASE_URL": url, **SECRET}))
    assert "cannot reach the database" in line


def test_database_missing(server_url):
    url = with_database(server_url, "chaat_no_such_database")
    line = one_line_error(chaat("serve", env={"DATABASE_URL": url, **SECRET}))
    assert '"chaat_no_such_database" does not exist' in line


def test_malformed_database_url():
    line = one_line_error(chaat("serve", env={"DATABASE_URL": "localhost", **SECRET}))
    assert "DATABASE_URL must be a postgresql:// URL" in line


def test_unknown_registration_mode():
    line = one_line_error(chaat("serve", env={"CHAAT_REGISTRATION": "friends-only"}))
    assert "CHAAT_REGISTRATION must be open, invite or closed" in line


def test_malformed_redis_url():
    line = one_line_error(chaat("serve", env={"CHAAT_REDIS_URL": "localhost:6379"}))
    assert "CHAAT_REDIS_URL must be a redis://" in line


def test_unknown_log_level():
    line = one_line_error(chaat("serve", env={"CHAAT_LOG_LEVEL": "verbose"}))
    assert "CHAAT_LOG_LEVEL must be one of" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--port", "70000"], "--port"), (["--workers", "0"], "--workers"), (["--nope"], "--nope")],
)
def test_bad_flags(args, expected, data_root):
    line = one_line_error(chaat("serve", *args, "--data-dir", str(data_root / "data")))
    assert expected in line
    assert not (data_root / "data").exists()


def test_data_dir_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    line = one_line_error(chaat("serve", "--data-dir", str(tmp_path / "file")))
    assert "is a file" in line


def test_admin_on_a_missing_data_dir_makes_nothing(tmp_path):
    data_dir = tmp_path / "no" / "such" / "dir"
    line = one_line_error(chaat("admin", "promote", "x", "--data-dir", str(data_dir)))
    assert "no Chaat database in" in line
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(not ROOT, reason="only root needs CHAAT_PG_USER")
def test_root_needs_a_postgresql_user(data_root):
    done = chaat("serve", "--data-dir", str(data_root / "data"), env={"CHAAT_PG_USER": ""})
    assert "CHAAT_PG_USER" in one_line_error(done)
    assert not (data_root / "data").exists()
    done = chaat("serve", "--data-dir", str(data_root / "data"), env={"CHAAT_PG_USER": "no-one"})
    assert "no such user" in one_line_error(done)


async def test_a_failing_migration(scratch_url):
    conn = await asyncpg.connect(scratch_url)
    try:
        await conn.execute("CREATE TABLE schema_migration (version integer, name text)")
        await conn.execute("INSERT INTO schema_migration VALUES (99, '0099_future.sql')")
    finally:
        await conn.close()
    env = {"DATABASE_URL": scratch_url, **SECRET}
    for command in (["db", "upgrade"], ["serve", "--port", str(free_port())]):
        done = await asyncio.to_thread(chaat, *command, env=env)
        assert "newer than this Chaat knows" in one_line_error(done)


async def test_a_failing_worker_stops_the_server(scratch_url):
    """Two workers need two connections; a role allowed one makes one worker fail."""
    role = database = urlsplit(scratch_url).path.lstrip("/")
    conn = await asyncpg.connect(scratch_url)
    try:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
        await conn.execute(f'ALTER DATABASE "{database}" OWNER TO "{role}"')
        await conn.execute(f'ALTER SCHEMA public OWNER TO "{role}"')
    finally:
        await conn.close()
    parts = urlsplit(scratch_url)
    url = urlunsplit(parts._replace(netloc=f"{role}@" + parts.netloc.split("@")[-1]))
    # Quiet the migrations' and the event listener's logs: only the error is the point.
    env = {"DATABASE_URL": url, "CHAAT_LOG_LEVEL": "ERROR", **SECRET}
    done = await asyncio.to_thread(
        chaat, "serve", "--workers", "2", "--port", str(free_port()), env=env
    )
    assert "too many connections" in one_line_error(done)


def test_the_workers_share_the_request_connections():
    """CHAAT_POOL_SIZE is the whole server's: two workers of 10 connections each put
    PostgreSQL in more contention than one process of 10 (docs/PERFORMANCE.md)."""
    pools = {
        (size, workers): server.worker_settings(
            replace(Settings(), pool_size=size, workers=workers)
        ).pool_size
        for size, workers in ((10, 1), (10, 2), (10, 3), (3, 4))
    }
    assert pools == {(10, 1): 10, (10, 2): 5, (10, 3): 4, (3, 4): server.WORKER_POOL_FLOOR}


def _worker(settings: Settings, failures: Any, _siblings: Any) -> None:
    """In place of chaat.server.worker_main: the first worker fails at once, the others
    serve (sleep) until stopped."""
    if multiprocessing.current_process().name == "chaat-worker-0":
        failures.put(("worker 0 failed", ""))
        raise SystemExit(1)
    time.sleep(60)


def test_a_worker_that_ended_before_the_watch_began_still_stops_the_server(monkeypatch):
    """However late a failed worker's exit status becomes collectable, relative to its
    sentinel, the supervisor sees the failure. Here it is there before the supervisor
    looks at all: the second worker starts once the first has exited. (The supervisor
    used to choose what to wait for by exit status, and waited on the second alone.)"""
    start = SpawnProcess.start
    started: list[SpawnProcess] = []

    def start_after_the_first_exited(process: SpawnProcess) -> None:
        if started:
            os.waitid(os.P_PID, started[0].pid, os.WEXITED | os.WNOWAIT)  # not reaped
        start(process)
        started.append(process)

    monkeypatch.setattr(SpawnProcess, "start", start_after_the_first_exited)
    monkeypatch.setattr(server, "worker_main", _worker)
    # run_workers takes the stop signals over, here in pytest's own process.
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    handlers = {signum: signal.getsignal(signum) for signum in signals}
    began = time.monotonic()
    try:
        with pytest.raises(ConfigError, match="worker 0 failed"):
            server.run_workers(replace(Settings(), workers=2))
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert time.monotonic() - began < 30, "the second worker ran on, unstopped"
    assert [p.exitcode for p in started] == [1, -signal.SIGTERM]


def _sleeping_worker(settings: Settings, failures: Any, _siblings: Any) -> None:
    time.sleep(60)


def test_a_stop_signal_while_the_workers_start_stops_those_started(monkeypatch):
    """SIGTERM after the first of three workers started: that one is stopped, the others
    never start, and the server ends (it used to start them, unstopped, and wait on)."""
    start = SpawnProcess.start
    started: list[SpawnProcess] = []

    def start_then_get_a_signal(process: SpawnProcess) -> None:
        start(process)
        started.append(process)
        if len(started) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by run_workers, in this process

    monkeypatch.setattr(SpawnProcess, "start", start_then_get_a_signal)
    monkeypatch.setattr(server, "worker_main", _sleeping_worker)
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    handlers = {signum: signal.getsignal(signum) for signum in signals}
    began = time.monotonic()
    try:
        server.run_workers(replace(Settings(), workers=3))
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert time.monotonic() - began < 30, "a worker ran on, unstopped"
    assert [p.exitcode for p in started] == [-signal.SIGTERM]


def test_debug_shows_the_traceback():
    done = chaat("--debug", "serve", env={"DATABASE_URL": "localhost"})
    assert "Traceback" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("chaat: DATABASE_URL")
