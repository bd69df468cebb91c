"""Where one PostgreSQL, one bus and one Chaat process saturate on this machine.

docs/SCALING.md quotes these figures. Each measurement runs --seconds, --runs times;
the script prints medians (the rate with its min-max), and for every measurement the
CPU of each party in percent of one core (read from /proc: a machine with 2 cores has
200%), "others" being whatever else ran on the machine meanwhile.

1. sends: PostgreSQL's own ceiling for sends. --connections connections run Chaat's
   statement for a send (queries/messages/send.sql: send_message() in schema.sql, no
   client_id, no reply) as fast as they can, no Chaat and no HTTP in between: spread
   over 20 direct chats and 2 groups (as bench/compare.py's send workload), then all
   into ONE group, whose sends its advisory lock serialises; both again with
   synchronous_commit off, to see how much of each ceiling is the wait for the WAL to
   reach the disk. msgs/s, PostgreSQL's CPU per message, and what the backends were
   doing (pg_stat_activity sampled every 20 ms: on CPU, waiting for a lock or for the
   WAL, or idle waiting for this client). Its rate over Chaat's says how many Chaat
   processes one PostgreSQL can feed. Then the same sends in batches, as the server
   makes them under load (queries/messages/send_many.sql: send_messages(), one statement
   and one commit a batch) from AT_ONCE and 2 x AT_ONCE connections (one server process
   and two keep that many batches on their way): one message to each of the 22 chats a
   batch, or 22 to the one chat.
2. history: the query Chaat runs for a history page (queries/messages/list_before.sql,
   newest 50 of a 10,000-message chat) from --history-connections connections: pages/s
   and PostgreSQL's CPU per page; the work a read replica would take over.
3. bus: the wake-ups. PostgreSQL NOTIFY statements/s as Chaat sends them
   (queries/events/notify_many.sql, each in its own transaction) from 1 and 8
   connections with one LISTEN connection hearing them; Redis PUBLISH/s (redis-py
   asyncio, --redis-url, channels "ceilings:chat:<n>", no subscriber, no key written)
   one at a time from 1 and 8 tasks, and pipelined 22 to a round trip (as RedisBus
   sends a batch). Redis's CPU comes from INFO, so it includes other clients'.
4. chaat: bench/compare.py --workload send (its baseline, then Chaat, --runs times)
   against a fresh database of this PostgreSQL, with --workers 1, with --workers 2, and
   with --workers 2 on the Redis bus (a private redis-server on a free port). Over the
   first 90% of each phase (told by compare.py's progress lines): msgs/s from the
   message tables, the CPU of the generator (compare.py itself), of the server's
   processes and of PostgreSQL, and the wake-ups Chaat sent per message (NOTIFYs heard
   by a LISTEN connection; PUBLISHes counted by Redis).

The database is an embedded PostgreSQL in a temporary folder (bench/compare.py's), or
DATABASE_URL (then PostgreSQL's CPU is only read when it runs on this machine, and
step 4 creates and drops databases named ceilings_chaat_*).

    python bench/ceilings.py                         # everything: about 6 minutes
    python bench/ceilings.py --step sends --step history --seconds 2 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import compare  # bench/compare.py: the embedded database, the closed loop, free ports
import redis.asyncio as redis

from chaat import migrate
from chaat.bus import EVENTS_CHANNEL
from chaat.db import queries
from chaat.messages import Sends
from chaat.validation import MAX_ID

HERE = Path(__file__).resolve().parent
MEMBERS = 20
"""Users besides the owner: 20 direct chats with the owner, and groups of all 21."""
HISTORY = 10_000
PAGE = 51
"""Chaat asks for one more than the page's 50, to know whether there are more."""
BATCH = 22
"""Sends in one batch, Redis PUBLISHes in one pipelined round trip: one per chat of the
send workload."""
AT_ONCE = Sends.AT_ONCE
"""Batches one server process keeps on their way to the database."""
SAMPLE_SECONDS = 0.02
SERVERS = {"chaat": b"chaat\0serve", "baseline": b"baseline.py"}
"""How compare.py's servers are found among its children (their command lines)."""
TICKS = os.sysconf("SC_CLK_TCK")
Measure = dict[str, float]
Open = Callable[[], Awaitable[asyncpg.Connection]]


# -- CPU, from /proc ----------------------------------------------------------------


def children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    return children


def cpu_of(pid: int | None, children: dict[int, list[int]], *, tree: bool) -> float:
    """CPU seconds of pid (and, with tree, of its descendants, the reaped ones included)."""
    total, todo = 0.0, [pid] if pid else []
    while todo:
        process = todo.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime; with tree also cutime, cstime (children already reaped)
            total += sum(int(f) for f in fields[11 : 15 if tree else 13]) / TICKS
        if tree:
            todo += children.get(process, [])
    return total


def machine_times() -> tuple[float, float]:
    """CPU seconds all cores spent busy since boot, and stolen by the hypervisor."""
    line = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in line[1:9])
    return (user + nice + system + irq + softirq) / TICKS, steal / TICKS


class Cpu:
    """The CPU of some parties between start() and split(), in percent of one core.

    parties: name -> (pid, whether its descendants count too); "others" is the rest of
    the machine's busy time, and "steal" what the hypervisor gave other machines."""

    def __init__(self, parties: dict[str, tuple[int | None, bool]]) -> None:
        self.parties = parties
        self.start()

    def _read(self) -> dict[str, float]:
        children = children_of()
        now = {name: cpu_of(pid, children, tree=tree) for name, (pid, tree) in self.parties.items()}
        busy, steal = machine_times()
        return {**now, "machine": busy, "steal": steal, "wall": time.perf_counter()}

    def start(self) -> None:
        self._then = self._read()

    def split(self) -> Measure:
        now, then = self._read(), self._then
        wall = now["wall"] - then["wall"]
        share = {
            f"{name} CPU": (now[name] - then[name]) / wall * 100
            if self.parties[name][0]
            else float("nan")
            for name in self.parties
        }
        ours = sum(v for v in share.values() if v == v)
        return {
            **share,
            "others CPU": (now["machine"] - then["machine"]) / wall * 100 - ours,
            "steal": (now["steal"] - then["steal"]) / wall * 100,
        }


# -- figures -------------------------------------------------------------------------


def summary(runs: list[Measure]) -> Measure:
    """The median of each figure over the runs (a missing one counts as 0), and the
    rate's min-max."""
    keys = {key for run in runs for key in run}
    figures = {key: statistics.median(run.get(key, 0.0) for run in runs) for key in keys}
    rates = [run["rate"] for run in runs]
    return {**figures, "min": min(rates), "max": max(rates)}


def waits(figures: Measure, top: int = 3) -> str:
    """The commonest backend states, as shares of the samples."""
    shares = sorted(
        ((v, k.removeprefix("wait ")) for k, v in figures.items() if k.startswith("wait ")),
        reverse=True,
    )
    return ", ".join(f"{name} {share:.0%}" for share, name in shares[:top] if share >= 0.005)


def print_table(
    title: str, columns: list[tuple[str, str, str]], rows: list[tuple[str, Measure]]
) -> None:
    """columns: (heading, figure, format); a row: its label and its summary()."""

    def cell(figures: Measure, key: str, spec: str) -> str:
        if key == "rate":
            return f"{figures['rate']:.0f} ({figures['min']:.0f}-{figures['max']:.0f})"
        if key == "waits":
            return waits(figures)
        value = figures.get(key, float("nan"))
        return "n/a" if value != value else format(value, spec)

    table = [["", *(heading for heading, _, _ in columns)]]
    table += [[label, *(cell(f, key, spec) for _, key, spec in columns)] for label, f in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print(f"\n{title}")
    for row in table:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    sys.stdout.flush()


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# -- the database ----------------------------------------------------------------------


class Chats:
    """The users and chats of steps 1 and 2, made by SQL as Chaat's API would leave them."""

    owner: int
    members: list[int]
    spread: list[int]
    """20 direct chats of the owner's and 2 groups: bench/compare.py's send workload."""
    hot: int
    """A group of all 21 that every connection sends to at once."""
    deep: int
    """A group with a 10,000-message history."""

    async def make(self, conn: asyncpg.Connection) -> None:
        await migrate.upgrade(conn)
        self.owner, *self.members = [
            row["id"]
            for row in await conn.fetch(
                "INSERT INTO app_user (username, display_name, password_hash)"
                " SELECT 'ceilings' || n, 'ceilings ' || n, '-'"
                " FROM generate_series(0, $1) n ORDER BY n RETURNING id",
                MEMBERS,
            )
        ]
        everyone = [self.owner, *self.members]
        participants: list[tuple[int, int]] = []
        direct = []
        for member in self.members:  # the owner's id is the smaller
            await conn.execute(
                "INSERT INTO friendship (user_low, user_high) VALUES ($1, $2)", self.owner, member
            )
            chat = await conn.fetchval(
                "INSERT INTO chat_sesh (kind, created_by, direct_low, direct_high)"
                " VALUES ('direct', $1, $1, $2) RETURNING id",
                self.owner,
                member,
            )
            direct.append(chat)
            participants += [(chat, self.owner), (chat, member)]
        groups = [
            await conn.fetchval(
                "INSERT INTO chat_sesh (kind, created_by) VALUES ('group', $1) RETURNING id",
                self.owner,
            )
            for _ in range(4)
        ]
        participants += [(group, user) for group in groups for user in everyone]
        await conn.executemany(
            "INSERT INTO chat_participant (chat_sesh_id, user_id) VALUES ($1, $2)", participants
        )
        await conn.executemany(
            "INSERT INTO chat_membership (chat_sesh_id, user_id, from_event_id) VALUES ($1, $2, 0)",
            participants,
        )
        self.spread, self.hot, self.deep = [*direct, *groups[:2]], groups[2], groups[3]
        await conn.execute(
            "INSERT INTO message (chat_sesh_id, seq, sender_id, body)"
            " SELECT $1, n, $2, 'history ' || n FROM generate_series(1, $3) n",
            self.deep,
            self.owner,
            HISTORY,
        )
        await conn.execute("UPDATE chat_sesh SET last_seq = $2 WHERE id = $1", self.deep, HISTORY)
        await conn.execute("ANALYZE")


async def postmaster_of(conn: asyncpg.Connection) -> int | None:
    """PostgreSQL's main process, if it runs on this machine (the parent of our backend)."""
    return parent_of(await conn.fetchval("SELECT pg_backend_pid()"))


def parent_of(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


async def sample_states(connect: Open, into: Counter[str], stop: asyncio.Event) -> None:
    """What the generator's backends are doing, every SAMPLE_SECONDS, until stop."""
    conn = await connect()
    try:
        while not stop.is_set():
            for row in await conn.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                " WHERE application_name = 'ceilings' AND pid <> pg_backend_pid()"
            ):
                if row["state"] == "idle":
                    into["wait client"] += 1  # the backend waits for the next statement
                elif row["wait_event_type"] is None:
                    into["wait CPU"] += 1
                else:
                    into[f"wait {row['wait_event_type']}:{row['wait_event']}"] += 1
            await asyncio.sleep(SAMPLE_SECONDS)
    finally:
        await conn.close()


async def hammer(
    connect: Open,
    connections: int,
    seconds: float,
    call: Callable[[asyncpg.Connection, int], Awaitable[Any]],
    cpu: Cpu,
    *,
    per_call: int = 1,
) -> Measure:
    """call(conn, n) from `connections` connections for `seconds`, each as soon as its last
    answered: the rate (of operations: per_call in each call), latency (of calls), CPU
    split and backend states."""
    states: Counter[str] = Counter()
    stop = asyncio.Event()
    conns = [await connect() for _ in range(connections)]
    try:
        sampler = asyncio.create_task(sample_states(connect, states, stop))
        free: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
        for conn in conns:
            free.put_nowait(conn)

        async def one(n: int) -> None:
            conn = free.get_nowait()  # as many loops as connections: one is always free
            try:
                await call(conn, n)
            finally:
                free.put_nowait(conn)

        cpu.start()
        figures = await compare.closed_loop(seconds, connections, one)
        split = cpu.split()
        stop.set()
        await sampler
    finally:
        for conn in conns:
            await conn.close()
    samples = sum(states.values()) or 1
    rate = figures["rate"] * per_call
    return {
        "rate": rate,
        "p50": figures["p50"],
        "p99": figures["p99"],
        **split,
        "us per op": split["postgres CPU"] * 10_000 / rate,
        **{state: count / samples for state, count in states.items()},
    }


# -- the steps -------------------------------------------------------------------------


class Steps:
    def __init__(self, args: argparse.Namespace, dsn: str, chats: Chats, postmaster: int | None):
        self.args, self.dsn, self.chats = args, dsn, chats
        self.cpu = Cpu({"generator": (os.getpid(), False), "postgres": (postmaster, True)})
        self.postmaster = postmaster

    async def connect(self, synchronous_commit: str = "on") -> asyncpg.Connection:
        settings = {"application_name": "ceilings", "synchronous_commit": synchronous_commit}
        return await asyncpg.connect(self.dsn, server_settings=settings)

    async def runs(self, label: str, measure: Callable[[], Awaitable[Measure]]) -> Measure:
        print(f"{label} ({load()}) ...", file=sys.stderr)
        return summary([await measure() for _ in range(self.args.runs)])

    async def sends(self) -> None:
        chats, rows = self.chats, []
        send = queries.messages.send.sql  # send_message(chat, sender, body, client_id, reply_to)
        conn = await self.connect()
        check = await conn.fetchval(send, chats.hot, chats.owner, "hello", None, None)
        await conn.close()
        assert check == "sent", check
        spread = ("22 chats", lambda n: chats.spread[n % len(chats.spread)])
        hot = ("one chat", lambda n: chats.hot)
        most = max(self.args.connections)
        cases = [
            (where, pick, c, "on") for where, pick in (spread, hot) for c in self.args.connections
        ]
        # How much of it is waiting for the WAL to reach the disk at each commit:
        cases += [(where, pick, most, "off") for where, pick in (spread, hot)]
        for where, pick, connections, sync in cases:
            label = f"{connections} conns, {where}" + (
                ", synchronous_commit off" if sync == "off" else ""
            )
            figures = await self.runs(
                f"sends, {label}",
                lambda c=connections, p=pick, s=sync: hammer(
                    lambda: self.connect(s),
                    c,
                    self.args.seconds,
                    lambda conn, n, p=p: conn.fetchrow(
                        send, p(n), chats.owner, f"m{n}", None, None
                    ),
                    self.cpu,
                ),
            )
            rows.append((label, figures))
        rows += await self.batched_sends()
        print_table(
            f"1. send_message() straight to PostgreSQL ({self.args.runs} runs of"
            f" {self.args.seconds:g} s, medians); batches: send_messages(), p99 per batch",
            [
                ("msgs/s (min-max)", "rate", ""),
                ("p99 ms", "p99", ".1f"),
                ("PG CPU %", "postgres CPU", ".0f"),
                ("PG CPU µs/msg", "us per op", ".0f"),
                ("generator CPU %", "generator CPU", ".0f"),
                ("others CPU %", "others CPU", ".0f"),
                ("steal %", "steal", ".0f"),
                ("backends", "waits", ""),
            ],
            rows,
        )

    async def batched_sends(self) -> list[tuple[str, Measure]]:
        """Sends as the server makes them under load (chaat.messages.Sends): batches in one
        statement and one commit (queries/messages/send_many.sql), at most AT_ONCE on
        their way from each process: one message to each of the 22 chats, or BATCH to the
        one chat, per batch."""
        chats, rows = self.chats, []
        send_many = queries.messages.send_many.sql
        kinds = (
            ("22 chats", list(chats.spread)),
            ("one chat", [chats.hot] * BATCH),
        )
        for where, chat_ids in kinds:
            size = len(chat_ids)
            nothing = [None] * size
            first = await self.connect()
            check = await first.fetch(
                send_many, chat_ids, [chats.owner] * size, ["hello"] * size, *[nothing] * 5
            )
            await first.close()
            assert [row["outcome"] for row in check] == ["sent"] * size, check
            for connections in (AT_ONCE, 2 * AT_ONCE):
                label = f"{connections} conns, {where}, batches of {size}"
                figures = await self.runs(
                    f"sends, {label}",
                    lambda c=connections, ids=chat_ids, none=nothing: hammer(
                        self.connect,
                        c,
                        self.args.seconds,
                        lambda conn, n: conn.fetch(
                            send_many,
                            ids,
                            [chats.owner] * len(ids),
                            [f"m{n}.{i}" for i in range(len(ids))],
                            *[none] * 5,
                        ),
                        self.cpu,
                        per_call=len(ids),
                    ),
                )
                rows.append((label, figures))
        return rows

    async def history(self) -> None:
        chats, rows = self.chats, []
        sql = queries.messages.list_before.sql
        args = (chats.deep, chats.owner, MAX_ID, PAGE)
        conn = await self.connect()
        row = await conn.fetchrow(sql, *args)
        await conn.close()
        assert row["allowed"], row
        assert len(row["page"]) == PAGE, row
        for connections in self.args.history_connections:
            figures = await self.runs(
                f"history, {connections} connections",
                lambda c=connections: hammer(
                    self.connect,
                    c,
                    self.args.seconds,
                    lambda conn, _n: conn.fetchrow(sql, *args),
                    self.cpu,
                ),
            )
            rows.append((f"{connections} conns", figures))
        print_table(
            f"2. a history page (list_before.sql, 50 of {HISTORY:,} messages) straight to"
            f" PostgreSQL ({self.args.runs} runs of {self.args.seconds:g} s, medians)",
            [
                ("pages/s (min-max)", "rate", ""),
                ("p99 ms", "p99", ".1f"),
                ("PG CPU %", "postgres CPU", ".0f"),
                ("PG CPU µs/page", "us per op", ".0f"),
                ("generator CPU %", "generator CPU", ".0f"),
                ("others CPU %", "others CPU", ".0f"),
                ("steal %", "steal", ".0f"),
                ("backends", "waits", ""),
            ],
            rows,
        )

    async def bus(self) -> None:
        rows = []
        sql, channel = queries.events.notify_many.sql, "ceilings_events"
        heard = 0

        def hear(*_args: Any) -> None:
            nonlocal heard
            heard += 1

        listener = await self.connect()
        await listener.add_listener(channel, hear)
        for connections in (1, 8):

            async def notify(c: int = connections) -> Measure:
                nonlocal heard
                heard = 0
                figures = await hammer(
                    self.connect,
                    c,
                    self.args.seconds,
                    lambda conn, _n: conn.fetchval(sql, [channel], ["0123456789abcdef"]),
                    self.cpu,
                )
                await asyncio.sleep(0.2)  # the last ones on their way
                return {**figures, "heard": heard / figures["rate"] / self.args.seconds}

            figures = await self.runs(f"NOTIFY, {connections} connections", notify)
            rows.append((f"NOTIFY, {connections} conns, 1 listener", figures))
        await listener.close()

        client = redis.from_url(self.args.redis_url)
        info = await client.info("server")
        redis_cpu = Cpu({"generator": (os.getpid(), False)})

        async def publish(tasks: int, pipelined: bool) -> Measure:
            count = 0

            async def call(n: int) -> None:
                nonlocal count
                if pipelined:
                    async with client.pipeline(transaction=False) as pipe:
                        for chat in range(BATCH):
                            pipe.publish(f"ceilings:chat:{chat}", "wake")
                        await pipe.execute()
                    count += BATCH
                else:
                    await client.publish(f"ceilings:chat:{n % BATCH}", "wake")
                    count += 1

            before = await client.info("cpu")
            redis_cpu.start()
            figures = await compare.closed_loop(self.args.seconds, tasks, call)
            split = redis_cpu.split()
            after = await client.info("cpu")
            used = sum(after[k] - before[k] for k in ("used_cpu_sys", "used_cpu_user"))
            rate = figures["rate"] * (BATCH if pipelined else 1)
            return {
                "rate": rate,
                "p99": figures["p99"],
                **split,
                "redis CPU": used * 100 / self.args.seconds,
                "us per op": used * 1e6 / (rate * self.args.seconds),
            }

        for tasks, pipelined in ((1, False), (8, False), (1, True)):
            how = f"pipelined {BATCH} a trip" if pipelined else "one at a time"
            figures = await self.runs(
                f"PUBLISH, {tasks} tasks, {how}", lambda t=tasks, p=pipelined: publish(t, p)
            )
            rows.append((f"Redis PUBLISH, {tasks} task{'s' * (tasks > 1)}, {how}", figures))
        await client.aclose()
        print_table(
            f"3. wake-ups: NOTIFY and Redis {info['redis_version']} PUBLISH ({self.args.runs}"
            f" runs of {self.args.seconds:g} s, medians)",
            [
                ("per s (min-max)", "rate", ""),
                ("p99 ms", "p99", ".2f"),
                ("heard/sent", "heard", ".2f"),
                ("PG CPU %", "postgres CPU", ".0f"),
                ("Redis CPU %", "redis CPU", ".0f"),
                ("server CPU µs each", "us per op", ".1f"),
                ("generator CPU %", "generator CPU", ".0f"),
                ("others CPU %", "others CPU", ".0f"),
                ("steal %", "steal", ".0f"),
            ],
            rows,
        )

    async def chaat(self) -> None:
        rows = []
        for workers, with_redis in ((1, False), (2, False), (2, True)):
            print(
                f"compare.py --workers {workers}{' on Redis' if with_redis else ''} ({load()})",
                file=sys.stderr,
            )
            async with private_redis(with_redis) as redis_url:
                phases = await run_compare(self.args, self.dsn, self.postmaster, workers, redis_url)
            for side in ("baseline", "chaat"):
                label = f"{side}, --workers {workers}" if side == "chaat" else "baseline"
                if side == "chaat" and with_redis:
                    label += ", Redis bus"
                if side == "baseline" and workers > 1:
                    continue  # the same baseline each time
                rows.append((label, summary(phases[side])))
        print_table(
            f"4. bench/compare.py --workload send --seconds {self.args.seconds:g} --runs"
            f" {self.args.runs} (32 clients): each phase, medians",
            [
                ("msgs/s (min-max)", "rate", ""),
                ("generator CPU %", "generator CPU", ".0f"),
                ("server CPU %", "server CPU", ".0f"),
                ("PG CPU %", "postgres CPU", ".0f"),
                ("others CPU %", "others CPU", ".0f"),
                ("steal %", "steal", ".0f"),
                ("server CPU µs/msg", "server us", ".0f"),
                ("PG CPU µs/msg", "us per op", ".0f"),
                ("NOTIFY/msg", "notify", ".3f"),
                ("PUBLISH/msg", "publish", ".3f"),
            ],
            rows,
        )


@contextlib.asynccontextmanager
async def private_redis(wanted: bool) -> AsyncIterator[str | None]:
    """A redis-server of our own on a free port (its PUBLISH count is Chaat's alone)."""
    if not wanted:
        yield None
        return
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed: cannot measure Chaat on Redis")
    port = compare.free_port()
    process = await asyncio.create_subprocess_exec(
        server,
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.from_url(url)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                await client.ping()
                break
            await asyncio.sleep(0.05)
        await client.aclose()
        yield url
    finally:
        process.terminate()
        await process.wait()


async def run_compare(
    args: argparse.Namespace, dsn: str, postmaster: int | None, workers: int, redis_url: str | None
) -> dict[str, list[Measure]]:
    """compare.py --workload send on a fresh database; the figures of each phase."""
    name = f"ceilings_chaat_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    url = urlsplit(dsn)._replace(path=f"/{name}").geturl()
    watcher = await asyncpg.connect(url)
    wakeups = 0

    def heard(*_args: Any) -> None:
        nonlocal wakeups
        wakeups += 1

    await watcher.add_listener(EVENTS_CHANNEL, heard)
    counter = redis.from_url(redis_url) if redis_url else None
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CHAAT_RATE_LIMITS": "off",  # a load test is a flood by design
        # Only the setup's sign-ups hash passwords: cheap hashes shorten it.
        "CHAAT_ARGON2_TIME_COST": "1",
        "CHAAT_ARGON2_MEMORY_COST": "1024",
    }
    env.pop("CHAAT_REDIS_URL", None)
    if redis_url:
        env["CHAAT_REDIS_URL"] = redis_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "compare.py"),
        *("--workload", "send", "--workers", str(workers)),
        *("--seconds", str(args.seconds), "--runs", str(args.runs)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    phases: dict[str, list[Measure]] = {"baseline": [], "chaat": []}
    reading = asyncio.Lock()

    async def counts() -> dict[str, float]:
        async with reading:
            row = await watcher.fetchrow(
                "SELECT (SELECT coalesce(max(id), 0) FROM message) AS chaat,"
                " (SELECT coalesce(max(id), 0) FROM baseline.message) AS baseline"
            )
            published = 0.0
            if counter:
                stats = await counter.info("commandstats")
                published = stats.get("cmdstat_publish", {}).get("calls", 0)
        return {**row, "notify": wakeups, "publish": published, "wall": time.perf_counter()}

    async def phase(side: str) -> None:
        """The first 90% of one side's --seconds of sends (it has just begun): inside it."""
        children = children_of().get(process.pid, [])
        server = next(p for p in children if SERVERS[side] in cmdline(p))
        cpu = Cpu(
            {
                "generator": (process.pid, False),
                "server": (server, True),
                "postgres": (postmaster, True),
            }
        )
        then = await counts()
        await asyncio.sleep(args.seconds * 0.9)
        split, now = cpu.split(), await counts()
        messages = now[side] - then[side]
        rate = messages / (now["wall"] - then["wall"])
        phases[side].append(
            {
                "rate": rate,
                **split,
                "us per op": split["postgres CPU"] * 10_000 / rate,
                "server us": split["server CPU"] * 10_000 / rate,
                "notify": (now["notify"] - then["notify"]) / messages,
                "publish": (now["publish"] - then["publish"]) / messages,
            }
        )

    async def follow_stderr() -> None:
        assert process.stderr
        async for raw in process.stderr:
            line = raw.decode().rstrip()
            print(f"  compare.py: {line}", file=sys.stderr)
            if line.startswith("run ") and ": send, " in line:
                await phase(line.rsplit(", ", 1)[1].split()[0])

    async def follow_stdout() -> None:
        assert process.stdout
        async for raw in process.stdout:
            print(f"  compare.py| {raw.decode().rstrip()}", file=sys.stderr)

    try:
        await asyncio.gather(follow_stderr(), follow_stdout())
        if await process.wait():
            raise SystemExit(f"compare.py failed ({process.returncode})")
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        if counter:
            await counter.aclose()
        await watcher.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
    return phases


def cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


async def main_async(args: argparse.Namespace, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        chats = Chats()
        await chats.make(conn)
        postmaster = await postmaster_of(conn)
        settings = {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers")
        }
    finally:
        await conn.close()
    cpus = len(os.sched_getaffinity(0))
    print(
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {cpus} CPUs, {load()} at the start; PostgreSQL"
        f" {', '.join(f'{k} {v}' for k, v in settings.items())}"
    )
    steps = Steps(args, dsn, chats, postmaster)
    for step in args.step:
        await getattr(steps, step)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="each measurement's length")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[8, 16, 32], help="for the sends"
    )
    parser.add_argument("--history-connections", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--step",
        action="append",
        choices=["sends", "history", "bus", "chaat"],
        help="run only this step (repeat for several; default: all, in this order)",
    )
    args = parser.parse_args()
    args.step = args.step or ["sends", "history", "bus", "chaat"]
    with compare.database() as dsn:
        asyncio.run(main_async(args, dsn))


if __name__ == "__main__":
    main()
