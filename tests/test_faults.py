"""The hub never dies quietly (issue 9): PostgreSQL killed outright, again and again, under load.

An operator ran 8 senders and one open event socket while SIGKILLing the PostgreSQL
postmaster ten times: the event dispatcher died on asyncpg's InternalClientError, and
from then on the socket heard nothing while /v1/health said 200. Here a real `chaat
serve` runs against a PostgreSQL of the test's own, on a fixed TCP port so that it can
be killed and started again on the same data folder, and we check what clients see:
every send answers 201 or 503 (never 500), every acknowledged message reaches the
socket once and in order, /v1/health says 503 while the database is gone and 200 soon
after it is back, and the server logs each failure in one line, without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from conftest import User, befriend, free_port, sign_up, until_healthy

from chaat import embedded

pytestmark = pytest.mark.timeout(150)

KILLS = 10
SENDERS = 8
UP_SECONDS = 0.8
"""How long the database runs (and the senders get through) between two kills."""
DOWN_SECONDS = 0.4
"""How long the database stays dead before it starts again."""
RECOVERY_SECONDS = 10.0
"""How soon, once the database is back, /v1/health must say 200 and the socket catch up."""

LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \d+ (?P<logger>[\w.]+): ")
"""The first line of a log record of `chaat serve` (chaat.server.configure_logging)."""
CONNECTION_FAILURE = re.compile(
    r"^(ConnectionRefusedError|ConnectionResetError|asyncpg\.exceptions\.CannotConnectNowError)",
    re.MULTILINE,
)
TOLERATED_TRACEBACKS = {"asyncpg.pool": CONNECTION_FAILURE}
"""Tracebacks that are not chaat's: asyncpg 0.32's pool logs one (a warning) each time it
fails to reconnect up to its min_size while the database is down."""


def tolerated(logger: str | None, record: str) -> bool:
    """Whether a log record's traceback is one of TOLERATED_TRACEBACKS."""
    pattern = TOLERATED_TRACEBACKS.get(logger or "")
    return pattern is not None and pattern.search(record) is not None


async def until(condition: Callable[[], bool], seconds: float, failure: Callable[[], str]) -> None:
    """Wait until condition() holds; fail with failure() after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, failure()
        await asyncio.sleep(0.02)


class KillablePostgres:
    """A PostgreSQL of the test's own on a fixed TCP port, to kill outright and start again.

    It runs the embedded server's binaries the way chaat.embedded does (as root, as an
    unprivileged user), but listens on 127.0.0.1 rather than on a Unix socket only, so
    that `chaat serve` finds a restarted server where the killed one was.
    """

    def __init__(self, root: Path, user: embedded.User | None) -> None:
        self.pgdata = root / "pg"
        self.log = root / "pg.log"
        self.user = user
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.next_xids: list[int] = []
        """The next transaction id after each start, from the latest checkpoint."""

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

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
        # against the machine itself crashing, and costs the shared disk dearly.
        command += ["-c", "fsync=off"]
        with self.log.open("ab") as log:
            self.process = process = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.pgdata,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Should the test process die, its PostgreSQL goes too.
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

    async def stop(self) -> None:
        """Fast shutdown; whatever is left of it is killed."""
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


class ServerLog:
    """Everything `chaat serve` writes to stderr, read as it comes (the pipe must not fill)."""

    def __init__(self, server: asyncio.subprocess.Process) -> None:
        assert server.stderr is not None
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._read(server.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.lines.append(line.decode(errors="replace"))

    async def finish(self) -> None:
        """Read to the end, once the server has exited and closed its stderr."""
        await asyncio.wait_for(self._task, 10)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def summary(self) -> str:
        """The log without the many one-line 503s, each traceback cut to its exception."""
        kept = []
        for line in self.lines:
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


async def serve(database_url: str) -> tuple[asyncio.subprocess.Process, str, ServerLog]:
    """A real `chaat serve` on database_url, its base URL, and its stderr as it comes."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chaat", "serve", "--port", str(port)),
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "CHAAT_SECRET_KEY": secrets.token_urlsafe(32),
            "CHAAT_LOG_LEVEL": "WARNING",  # the failures, not the access log
            "CHAAT_ARGON2_TIME_COST": "1",
            "CHAAT_ARGON2_MEMORY_COST": "1024",
        },
        stdin=subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    log = ServerLog(server)
    base = f"http://127.0.0.1:{port}"
    try:
        await until_healthy(base, server)
    except AssertionError:
        server.kill()
        await server.wait()
        await log.finish()
        raise AssertionError("".join(log.lines)) from None
    return server, base, log


class EventSocket:
    """One user's event WebSocket, resumed with ?since=<last id> whenever it closes or drops."""

    def __init__(self, session: aiohttp.ClientSession, user: User, *, since: int) -> None:
        self.session, self.user, self.last_id = session, user, since
        self.events: list[dict[str, Any]] = []
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
                        async for msg in ws:
                            if msg.type is aiohttp.WSMsgType.TEXT:
                                self._take(json.loads(msg.data))
                        self.drops.append(f"closed: {ws.close_code}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.drops.append(f"{exc.__class__.__name__}: {exc}")
            self.open.clear()
            await asyncio.sleep(0.1)

    def _take(self, event: dict[str, Any]) -> None:
        # Nothing here is old enough to need a resync, and nothing but messages happens.
        assert event["type"] == "message.created", event
        assert event["id"] > self.last_id, (event["id"], self.last_id)
        self.events.append(event)
        self.last_id = event["id"]


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A folder for the cluster. pytest's tmp_path is private to root (0700), which the
    PostgreSQL user could not pass through; this one is searchable (0711)."""
    folder = Path(tempfile.mkdtemp(prefix="chaat-faults-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def stored_messages(database_url: str, chat_id: int) -> list[tuple[int, int]]:
    """(id, seq) of every message of the chat, from the table, in seq order."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, seq FROM message WHERE chat_sesh_id = $1 ORDER BY seq", chat_id
        )
    finally:
        await conn.close()
    return [(r["id"], r["seq"]) for r in rows]


async def explain_difference(
    database: KillablePostgres, chat_id: int, socket: EventSocket, acknowledged: list[Any]
) -> str:
    """What the socket missed (or got twice): each message with its event id and the
    transaction id that id was made from, beside the first ids after each restart."""
    conn = await asyncpg.connect(database.url)
    try:
        rows = await conn.fetch(
            "SELECT m.id, m.seq, e.id AS event_id, e.id / 1024 - h.id_shift AS xid"
            " FROM message m JOIN event e ON e.message_id = m.id, event_horizon h"
            " WHERE m.chat_sesh_id = $1 ORDER BY m.seq",
            chat_id,
        )
    finally:
        await conn.close()
    times = Counter(e["data"]["id"] for e in socket.events)
    acked = {m["id"] for m in acknowledged}
    wrong = [n for n, row in enumerate(rows) if times[row["id"]] != 1]
    lines = [
        f"{len(socket.events)} received, {len(rows)} stored; {len(wrong)} messages not"
        f" received exactly once (the first 5 below). PostgreSQL's next transaction id"
        f" after each start: {database.next_xids}"
    ]
    for n in wrong[:5]:
        row = rows[n]
        around = ", ".join(
            f"seq {r['seq']}: event {r['event_id']} (xid {r['xid']}) {times[r['id']]}x"
            for r in rows[max(0, n - 2) : n + 3]
        )
        lines.append(
            f"message {row['id']}, seq {row['seq']}, xid {row['xid']}"
            f" ({'acknowledged' if row['id'] in acked else 'not acknowledged'}),"
            f" received {times[row['id']]}x; around it: {around}"
        )
    lines.append(f"socket: {socket.connections} connection(s), {socket.drops}")
    return "\n".join(lines)


async def test_every_acknowledged_message_arrives_while_postgresql_is_killed_again_and_again(
    data_root,
):
    user = embedded.user_to_run_as(os.environ.get("CHAAT_PG_USER") or "nobody")
    database = KillablePostgres(data_root, user)
    server: asyncio.subprocess.Process | None = None
    log: ServerLog | None = None
    socket: EventSocket | None = None
    try:
        await asyncio.to_thread(database.initdb)
        await database.start()
        server, base, log = await serve(database.url)
        async with (
            aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=15)) as http,
            aiohttp.ClientSession(base) as streams,
        ):
            alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
            await befriend(http, alice, bob)
            async with http.post(
                "/v1/chats", json={"participants": ["bob"]}, headers=alice.headers
            ) as resp:
                assert resp.status == 201, await resp.text()
                chat_id = (await resp.json())["id"]
            conn = await asyncpg.connect(database.url)
            try:
                start = await conn.fetchval("SELECT max(id) FROM event")
            finally:
                await conn.close()
            socket = EventSocket(streams, bob, since=start)
            socket.start()
            await asyncio.wait_for(socket.open.wait(), 10)

            acknowledged: list[dict[str, Any]] = []
            refused = 0
            storm_over = asyncio.Event()
            outage: int | None = None  # the one under way, from the kill until ready again
            loop = asyncio.get_running_loop()
            restarts: list[float] = []
            # (when, outage under way or None, status) of every /v1/health answer
            health: list[tuple[float, int | None, int]] = []

            async def send(n: int) -> None:
                nonlocal refused
                i = 0
                while not storm_over.is_set():
                    i += 1
                    async with http.post(
                        f"/v1/chats/{chat_id}/messages",
                        json={"body": f"sender {n}, message {i}"},
                        headers=alice.headers,
                    ) as resp:
                        text = await resp.text()
                        if resp.status == 201:
                            acknowledged.append(json.loads(text))
                            continue
                        # Refused while the database was gone: never acknowledged.
                        assert resp.status == 503, f"{resp.status} {text}"
                        assert json.loads(text)["error"]["code"] == "unavailable", text
                        refused += 1
                    await asyncio.sleep(0.02)

            async def watch_health() -> None:
                while not storm_over.is_set():
                    during = outage
                    async with http.get("/v1/health") as resp:
                        body = await resp.json()
                        expected = {(200, "ok"), (503, "unavailable")}
                        assert (resp.status, body["status"]) in expected, (resp.status, body)
                        health.append((loop.time(), during, resp.status))
                    await asyncio.sleep(0.05)

            async def keep_killing() -> None:
                nonlocal outage
                for kill in range(KILLS):
                    await asyncio.sleep(UP_SECONDS)
                    outage = kill
                    await database.kill()
                    await asyncio.sleep(DOWN_SECONDS)
                    await database.start()
                    outage = None
                    restarts.append(loop.time())
                await asyncio.sleep(1)  # the senders go on while everything reconnects
                storm_over.set()

            await asyncio.gather(*(send(n) for n in range(SENDERS)), watch_health(), keep_killing())
            assert database.kills == KILLS
            assert len(acknowledged) > 50, (len(acknowledged), refused)
            assert refused > 0, "the database was killed, yet no send was refused"
            outages_seen = {during for _, during, status in health if status == 503} - {None}
            assert outages_seen, f"/v1/health never said 503 during an outage: {health}"

            # The database is back: /v1/health says so within a few seconds...
            back = restarts[-1]
            while not any(when > back and status == 200 for when, _, status in health):
                async with http.get("/v1/health") as resp:
                    health.append((loop.time(), None, resp.status))
                    assert loop.time() < back + RECOVERY_SECONDS, await resp.text()
                await asyncio.sleep(0.05)
            healthy_after = min(when for when, _, status in health if when > back and status == 200)

            # ...and the hub delivers live again: on a socket that is open before they are
            # sent (no replay), these messages can only come from the dispatcher.
            await asyncio.wait_for(socket.open.wait(), RECOVERY_SECONDS)
            connections = socket.connections
            for i in range(5):
                async with http.post(
                    f"/v1/chats/{chat_id}/messages",
                    json={"body": f"after the storm, message {i}"},
                    headers=alice.headers,
                ) as resp:
                    assert resp.status == 201, await resp.text()
                    acknowledged.append(await resp.json())

            # Stored: every acknowledged message, and perhaps a few whose 503 came after
            # the commit (the connection died before the answer got back).
            stored = await stored_messages(database.url, chat_id)
            assert {(m["id"], m["seq"]) for m in acknowledged} <= set(stored)
            assert [seq for _, seq in stored] == list(range(1, len(stored) + 1)), "seq has gaps"
            # Received: each of them, once, in seq order.
            with contextlib.suppress(AssertionError):
                await until(lambda: len(socket.events) >= len(stored), RECOVERY_SECONDS, str)
            received = [(e["data"]["id"], e["data"]["seq"]) for e in socket.events]
            if received != stored:
                raise AssertionError(
                    await explain_difference(database, chat_id, socket, acknowledged)
                )
            assert socket.connections == connections, "the last messages came by a replay"
            await socket.stop()

        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 30) == 0
        await log.finish()
        # The hub logged each failure in one line and carried on: a traceback would be
        # a bug (chaat.db.log_failure), or a background task that died.
        tracebacks = log.tracebacks()
        untolerated = [record for logger, record in tracebacks if not tolerated(logger, record)]
        assert not untolerated, untolerated[0]
        assert log.count("event listener") > 0, "no failure logged: is this the server's log?"
        print(
            f"\n{database.kills} kills: {len(acknowledged)} messages acknowledged,"
            f" {refused} sends refused (503), {len(stored)} stored and received;"
            f" /v1/health said 503 in outages {sorted(outages_seen)} and 200"
            f" {healthy_after - back:.2f} s after the last restart; the socket connected"
            f" {socket.connections} time(s) ({socket.drops});"
            f" {len(tracebacks)} asyncpg.pool tracebacks tolerated"
        )
    except BaseException:
        if server is not None and log is not None:  # what the server said goes with the failure
            if server.returncode is None:
                server.kill()
                await server.wait()
            await log.finish()
            print(log.summary())
        raise
    finally:
        if socket is not None:
            await socket.stop()
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()
        await database.stop()
