"""Chaat against the baseline server (bench/baseline.py), side by side, on the same database.

Starts an embedded PostgreSQL, `chaat serve` and the baseline, sets up the same chats in
both, then runs each workload against the baseline and against Chaat, in turn, --runs
times, and prints medians (with min-max), Chaat's ratio to the baseline, and the target
that issue 9 sets, where it sets one (WORKLOADS below says what each one measures):

- send: --concurrency clients sending as fast as they can, spread over 20 direct chats
  and 2 groups (msgs/s and latency);
- history: the newest 50 messages of a 10,000-message chat (requests/s and latency);
- fan-out: a 21-member group, every member listening (WebSocket), one message every
  1/--rate s: the latency from sending to each member's receipt, and any lost;
- fan-out-max: the highest such rate each server sustains, stepping up from --rate;
- login: --concurrency clients logging in as fast as they can, against the ceiling the
  cores put on Argon2 (cores / one hash's CPU time), while a probe times a cheap
  authenticated request, idle and during the storm (once under way: STORM_ONSET);
- idle: --sockets authenticated, idle event WebSockets: each server's memory per socket;
- search (Chaat only: the baseline has none): a chat filled straight in the database to
  each of --search-sizes messages in turn, searched by a few clients, for a rare word, a
  common one and within the chat (latency and requests/s). Last, after every other
  workload's runs: filling 1,000,000 messages takes a while.

Also prints the generator's own CPU share (this process, client side): near 100% of a
core means the generator, not the server, was the limit; and for send, history and
fan-out, the CPU time per request (or message) of the server, its workers included,
and of PostgreSQL, every process of its cluster. --report also writes the
figures, the machine and this command line to docs/PERFORMANCE.md and a plot of the
latency percentiles to docs/performance.png (or to the folder given); the plot needs
matplotlib (pip install -e '.[bench]').

Passwords are hashed with the Argon2 parameters Chaat reads (CHAAT_ARGON2_TIME_COST and
CHAAT_ARGON2_MEMORY_COST, else Chaat's defaults), passed on to both servers: with the
defaults, signing up and in the 121 users of a full run takes most of a minute on two
cores.

    python bench/compare.py                          # 3 runs of 5 s each, every workload
    python bench/compare.py --seconds 2 --runs 1     # a short run
    python bench/compare.py --workload login --workload idle --sockets 2000
    python bench/compare.py --workload search --search-sizes 100000 --seconds 2 --runs 1
    python bench/compare.py --report                 # and write docs/PERFORMANCE.md
    python bench/compare.py --workers 2              # both servers in two processes
    python bench/compare.py --chaat-python /tmp/old/.venv/bin/python   # an older Chaat

As root, the embedded PostgreSQL runs as CHAAT_PG_USER (default: nobody).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shlex
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
import report
from report import PERCENTILES, Measure, Plot, Row, Target, Workload

from chaat import embedded
from chaat.security import Passwords
from chaat.settings import Settings

PASSWORD = "bench password 1"
MEMBERS = 20
HISTORY = 10_000
IDLE_USERS = 100
"""The idle sockets are spread over this many users, as a user may hold only so many."""
OPENING = 100
"""Idle sockets being opened at once."""
PROBE_RATE = 50.0
"""Probe requests per second, during the login storm and before it."""
IDLE_PROBE_SPANS = 4
"""The idle probe runs this many times as long as the storm: its p99, the ratio's
denominator, is then the 10th slowest of 1,000 requests at the defaults, not the 3rd
of 250."""
STORM_ONSET = 0.5
"""Seconds of the login storm before its probe starts. At its start the generator opens
32 connections and sends 32 logins at once: under `perf sched` it and the server then
take turns on one core for some 20 ms (0.3 ms of the generator's and 0.13 ms of the
server's a login) while the other core idles, and a probe sent then timed mostly the
generator's own queue (15-40 ms; 2 or 3 of the 250 probes, so the p99 itself)."""
HASH_SAMPLES = 5
SUSTAINED_P99 = 100.0
"""ms: a fan-out rate is sustained when its delivery p99 stays below this, nothing is
lost and the sends keep up (at least 95% of the rate)."""
BISECTIONS = 3
TRIES = 2
"""A fan-out step fails only if it fails this many times in a row: one stall of the
machine (a checkpoint, a neighbour) decides nothing."""
MAX_RATE = 100_000.0
"""msgs/s: fan-out-max stops doubling here, should nothing fail before."""
HERE = Path(__file__).resolve().parent
SEARCH_SIZES = (100_000, 1_000_000)
"""Messages in the searched chat, by default (--search-sizes)."""
SEARCH_CLIENTS = 4
"""Clients searching at once: a common word's search keeps a core busy for a while."""
VOCABULARY = (
    "ok yes no see you at later lunch coffee meeting tomorrow today call me when ready home"
    " late train dinner weekend plans great sure maybe good morning night send file where"
    " are we going soon love it back in five minutes deal nice work done let know how was"
    " trip"
)
"""The searched chat's everyday words, a space between them: none starts like COMMON or RARE."""
COMMON, COMMON_SHARE = "the", 0.8
"""A word in most messages (in each with this chance)."""
RARE, RARE_EVERY = "xylophone", 1000
"""A word in one message out of RARE_EVERY (each whose seq is a multiple of it)."""
SEARCHES = (
    ("rare", "rare", f"q={RARE[:4]}", RARE[:4], False),
    ("common", "common", f"q={COMMON[:2]}", COMMON[:2], False),
    ("chat", "in chat", f"q={RARE[:4]}&chat=", RARE[:4], True),
)
"""The queries, each run on its own: (key, name, query string, q, restricted to the chat)."""

P50, P99 = Row("p50 ms", "p50"), Row("p99 ms", "p99")
GENERATOR_CPU = Row("generator CPU %", "cpu", ratio=False)
SERVER_CPU = Row("server CPU µs / request", "server cpu")
POSTGRES_CPU = Row("PostgreSQL CPU µs / request", "postgres cpu")
SERVER_CPU_PER_MESSAGE = Row("server CPU µs / message sent", "server cpu")
POSTGRES_CPU_PER_MESSAGE = Row("PostgreSQL CPU µs / message sent", "postgres cpu")


def search_workload(sizes: tuple[int, ...]) -> Workload:
    """The search workload at these sizes: a line per size and query with p50 and p99, a
    line per size with the requests/s and one with the generator's CPU (each query's, " / "
    between them), and a plot panel per size, a line per query."""
    names = " / ".join(name for _, name, *_ in SEARCHES)
    rows, plots = [], []
    for size in sizes:
        rows += [
            Row(
                f"{size:,} msgs, {name} ({query}): p50 / p99 ms",
                (f"{size} {key} p50", f"{size} {key} p99"),
                ratio=False,
            )
            for key, name, query, *_ in SEARCHES
        ]
        rows += [
            Row(
                f"{size:,} msgs: {label} ({names})",
                tuple(f"{size} {key} {figure}" for key, *_ in SEARCHES),
                ratio=False,
            )
            for label, figure in (("searches /s", "rate"), ("generator CPU %", "cpu"))
        ]
        plots.append(
            Plot(
                f"search, {size:,} messages (Chaat only)",
                tuple((name, f"{size} {key} ") for key, name, *_ in SEARCHES),
            )
        )
    return Workload(
        "Chaat only: the baseline has no search, and its column shows —. The setup's direct chat of"
        " owner and member0 is filled straight in the database, by one INSERT ... SELECT"
        f" generate_series, up to each size in turn ({', '.join(f'{n:,}' for n in sizes)}"
        " messages), then VACUUM (ANALYZE), as autovacuum soon would. The bodies are 3 or 4"
        f' words out of {len(VOCABULARY.split())} everyday ones, with "{COMMON}" in'
        f' {COMMON_SHARE:.0%} of them and "{RARE}" in 1 of {RARE_EVERY:,}. At each size,'
        f" {SEARCH_CLIENTS} clients search as owner, each as soon as its last search was"
        " answered, for {seconds:g} s per query, one query after the other: GET"
        f" /v1/messages?q={RARE[:4]} (a rare word's prefix: the index finds its few"
        f" matches), ?q={COMMON[:2]} (a common word's: every match is read, to find the"
        f" newest 20), and ?q={RARE[:4]}&chat= the filled chat. The owner takes part in"
        " every chat of the setup, whose other messages match neither word. The latency is"
        " the request's. Unlike the other workloads, search runs after all their runs, and"
        " each size is measured --runs times in a row.",
        tuple(rows),
        tuple(plots),
        chaat_only=True,
    )


WORKLOADS = {
    "send": Workload(
        "{concurrency} clients send messages as fast as they can, each as soon as its last"
        " was answered, spread over 20 direct chats and 2 groups, for {seconds:g} s; the"
        " latency is the request's.",
        (
            Row("msgs /s", "rate", target=Target(0.7, at_least=True)),
            P50,
            Row("p99 ms", "p99", target=Target(2)),
            GENERATOR_CPU,
            SERVER_CPU,
            POSTGRES_CPU,
        ),
        (Plot("send"),),
    ),
    "history": Workload(
        "{concurrency} clients each ask for the newest 50 messages of a 10,000-message"
        " chat, again and again, for {seconds:g} s. The chat is written straight to the"
        " database before the runs, in Chaat's with the message.created events a server"
        " keeps for its messages, then analyzed.",
        (
            Row("requests /s", "rate", target=Target(0.8, at_least=True)),
            P50,
            P99,
            GENERATOR_CPU,
            SERVER_CPU,
            POSTGRES_CPU,
        ),
        (Plot("history"),),
    ),
    "fan-out": Workload(
        "A 21-member group, every member listening on a WebSocket; its owner sends"
        " {rate:g} messages a second for {seconds:g} s. The latency runs from the send to"
        " each member's receipt; a delivery that has not arrived 5 s after the last send"
        " is lost. A send answered with an error (an overloaded server's 503) is refused.",
        (
            Row("deliveries /s", "rate"),
            P50,
            Row("p99 ms", "p99", target=Target(25, of_ratio=False)),
            Row("deliveries lost", "lost", ".0f", ratio=False, target=Target(0, of_ratio=False)),
            Row("sends refused", "refused", ".0f", ratio=False),
            GENERATOR_CPU,
            SERVER_CPU_PER_MESSAGE,
            POSTGRES_CPU_PER_MESSAGE,
        ),
        (Plot("fan-out at {rate:g} msgs/s: send to receipt"),),
    ),
    "fan-out-max": Workload(
        "The highest rate the fan-out above holds: nothing lost or refused, the sends"
        " keep up (at least 95% of the rate) and the delivery p99 stays under {sustained_p99:g} ms."
        " From {rate:g} messages a second, steps of {seconds:g} s double the rate until"
        " one fails (or halve it until one holds), then {bisections} steps bisect between"
        " the last that held and the first that failed. A step fails only if it fails"
        " {tries} times in a row. The other figures are those of the highest step that held.",
        (
            Row("max sustained msgs /s", "max", target=Target(0.8, at_least=True)),
            Row("deliveries /s", "rate"),
            P99,
            GENERATOR_CPU,
            SERVER_CPU_PER_MESSAGE,
            POSTGRES_CPU_PER_MESSAGE,
        ),
    ),
    "login": Workload(
        "{concurrency} clients log in (with the right password) as fast as they can, over"
        " 20 users, for {seconds:g} s. The ceiling is what the cores allow: their number"
        " over the CPU time of one Argon2 hash with Chaat's parameters, timed in the"
        " generator just before (median of {hash_samples}); the CPU time, which a hash's"
        " wall time understates when its lanes run in threads (as with Chaat before"
        " 2026-12-08). From {onset:g} s into the storm, once the generator's connections"
        " are open and its first logins sent, a probe makes {probe_rate:g} cheap requests"
        " a second (Chaat: GET /v1/users/me; the baseline: an empty history page),"
        " compared with the same probe on the idle server just before, for {idle_spans}"
        " times as long. The baseline's"
        " login is one Argon2 verification in a worker thread and nothing else.",
        (
            Row("logins /s", "rate"),
            Row("ceiling, logins /s", "ceiling", ratio=False),
            Row(
                "logins ÷ ceiling", "of ceiling", ".2f", Target(0.8, at_least=True, of_ratio=False)
            ),
            Row("one hash, wall ms", "hash wall", ratio=False),
            Row("one hash, CPU ms", "hash cpu", ratio=False),
            Row("login p50 ms", "p50"),
            Row("login p99 ms", "p99"),
            Row("probe p99 idle, ms", "idle probe p99"),
            Row("probe p99 in the storm, ms", "probe p99"),
            Row("probe p99, storm ÷ idle", "probe ratio", ".2f", Target(2, of_ratio=False)),
            GENERATOR_CPU,
        ),
        (
            Plot("login"),
            Plot(
                "probe, idle and in the login storm", (("idle", "idle probe "), ("storm", "probe "))
            ),
        ),
    ),
    "idle": Workload(
        "{sockets} WebSockets held open and idle on each server: on Chaat, event streams"
        " (GET /v1/events, the token in the header) spread over {idle_users} users; on the"
        " baseline, bare listening sockets. They are opened {opening} at a time. The"
        " memory is the resident set (VmRSS) of the server's processes, its workers"
        " included, before the first opens and 1 s after the last. In the first run only:"
        " a server keeps the memory that closed sockets freed, and reuses it, so that a"
        " second run would find next to nothing.",
        (
            Row("sockets opened /s", "opened"),
            Row("server RSS before, MiB", "rss before"),
            Row("server RSS with the sockets, MiB", "rss after"),
            Row("KiB per socket", "per socket", target=Target(2)),
        ),
        once=True,
    ),
    "search": search_workload(SEARCH_SIZES),
}
"""Every workload, in the order they run, as the report describes it: a {name} in a
description or a plot's title is that command-line option's value, or the constant's."""


@dataclass
class Server:
    """A server the bench started: where it answers, and its process."""

    url: str
    pid: int


@dataclass
class Side:
    """How to drive one server: the same workloads, each server's own API."""

    name: str
    pid: int
    """The server's process: the parent of any workers."""
    postgres_pid: int
    """The postmaster of the database both servers use."""
    send: Callable[[int], Awaitable[None]]
    history: Callable[[], Awaitable[None]]
    listen: Callable[[], Awaitable[list[aiohttp.ClientWebSocketResponse]]]
    fan_send: Callable[[str], Awaitable[None]]
    log_in: Callable[[int], Awaitable[None]]
    probe: Callable[[], Awaitable[None]]
    idle_socket: Callable[[int], Awaitable[aiohttp.ClientWebSocketResponse]]
    """The n-th idle socket, open and past its ready frame."""
    measures: dict[str, list[Measure]] = field(default_factory=dict)
    search: Callable[[str, bool], Awaitable[None]] | None = None
    """Search for q (in the filled chat only, if so); None: the server has no search."""
    fill: Callable[[int], Awaitable[int]] | None = None
    """Fill the searched chat up to n messages: how many it wrote."""


class Stopwatch:
    """Wall time, and the generator's CPU time (this process's), since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def seconds(self) -> float:
        return time.perf_counter() - self.wall

    def cpu_seconds(self) -> float:
        return time.process_time() - self.cpu

    def cpu_share(self) -> float:
        """Percent of one core."""
        return self.cpu_seconds() / self.seconds() * 100


class CpuMeter:
    """The CPU time processes spent since the meter was made, their descendants' included
    (a server's workers, the postmaster's backends): of those alive at the end, what they
    spent since the start (all of it, if they started later)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self._times()

    def _times(self) -> dict[int, float]:
        times = {}
        for process in (self.process, *self.process.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                cpu = process.cpu_times()
                times[process.pid] = cpu.user + cpu.system
        return times

    def seconds(self) -> float:
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self._times().items())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (to a tenth) of values; nan if there are none."""
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=1000)[round(q * 10) - 1]


def latency_figures(seconds: list[float], prefix: str = "") -> Measure:
    """The PERCENTILES of latencies in ms, named prefix + "p50" and so on; p99.9 only
    from 1,000 of them."""
    return {
        f"{prefix}p{q:g}": percentile(seconds, q) * 1000
        for q in PERCENTILES
        if q < 99.9 or len(seconds) >= 1000
    }


async def closed_loop(
    seconds: float,
    concurrency: int,
    call: Callable[[int], Awaitable[None]],
    *,
    side: Side | None = None,
) -> Measure:
    """call(n) from `concurrency` loops for `seconds`, each as soon as the last answered;
    with a side, also the CPU time its server and PostgreSQL spent per call."""
    latencies: list[float] = []
    counter = 0
    meters = {}
    if side is not None:
        meters = {"server cpu": CpuMeter(side.pid), "postgres cpu": CpuMeter(side.postgres_pid)}
    clock = Stopwatch()
    deadline = clock.wall + seconds

    async def loop() -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            await call(counter)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return {
        "rate": len(latencies) / clock.seconds(),
        **latency_figures(latencies),
        "cpu": clock.cpu_share(),
        **{name: meter.seconds() / len(latencies) * 1e6 for name, meter in meters.items()},
    }


async def paced(seconds: float, rate: float, call: Callable[[int], Awaitable[None]]) -> list[float]:
    """call(n) every 1/rate s for `seconds`, none waiting for an earlier one: the latencies."""
    latencies: list[float] = []

    async def timed(n: int) -> None:
        started = time.perf_counter()
        await call(n)
        latencies.append(time.perf_counter() - started)

    start = time.perf_counter()
    calls = []
    for n in range(int(seconds * rate)):
        calls.append(asyncio.create_task(timed(n)))
        await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.perf_counter()))
    await asyncio.gather(*calls)
    return latencies


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read until closed (reading also answers the server's pings)."""
    async for _ in ws:
        pass


async def fan_out(side: Side, seconds: float, rate: float) -> Measure:
    """One message every 1/rate s to the listening group; latency to every member."""
    sockets = await side.listen()
    run = secrets.token_hex(4)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    everything = asyncio.Event()
    messages = int(seconds * rate)
    refused = 0  # answered with an error (an overloaded server's 503): never delivered

    def expected() -> int:
        return (messages - refused) * len(sockets)

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            data = json.loads(msg.data)
            body = (data.get("data") or data).get("body")
            if body in sent:
                latencies.append(time.perf_counter() - sent[body])
                if len(latencies) == expected():
                    everything.set()

    async def send(n: int) -> None:
        nonlocal refused
        body = f"fan {n} {run}"
        sent[body] = time.perf_counter()
        try:
            await side.fan_send(body)
        except (RuntimeError, AssertionError):  # Chaat's and the baseline's refusals
            del sent[body]
            refused += 1

    readers = [asyncio.create_task(receive(ws)) for ws in sockets]
    server, postgres = CpuMeter(side.pid), CpuMeter(side.postgres_pid)
    clock = Stopwatch()
    await paced(seconds, rate, send)
    sending = clock.seconds()
    if len(latencies) == expected():
        everything.set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await everything.wait()
    accepted = max(messages - refused, 1)
    figures = {
        "rate": len(latencies) / clock.seconds(),
        "sent": (messages - refused) / sending,
        **latency_figures(latencies),
        "cpu": clock.cpu_share(),
        "server cpu": server.seconds() / accepted * 1e6,
        "postgres cpu": postgres.seconds() / accepted * 1e6,
        "lost": expected() - len(latencies),
        "refused": refused,
    }
    for ws in sockets:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return figures


async def fan_out_max(side: Side, seconds: float, rate: float) -> Measure:
    """The highest fan-out rate the side sustains (see WORKLOADS), with that step's figures."""
    held, failed = 0.0, math.inf
    best: Measure = {}

    async def step(rate: float) -> None:
        nonlocal held, failed, best
        for _ in range(TRIES):
            figures = await fan_out(side, seconds, rate)
            ok = (
                figures["lost"] == 0
                and figures["refused"] == 0
                and figures["sent"] >= 0.95 * rate
                and figures["p99"] < SUSTAINED_P99
            )
            print(
                f"  {rate:.0f} msgs/s {'held' if ok else 'failed'}: sent"
                f" {figures['sent']:.0f}/s, p99 {figures['p99']:.1f} ms, {figures['lost']} lost,"
                f" {figures['refused']} refused",
                file=sys.stderr,
            )
            if ok:
                held, best = rate, figures
                return
        failed = rate

    await step(rate)
    while held and failed == math.inf and rate < MAX_RATE:
        rate *= 2
        await step(rate)
    while not held and seconds * rate >= 4:
        rate /= 2
        await step(rate)
    if held and failed < math.inf:
        for _ in range(BISECTIONS):
            await step(math.sqrt(held * failed))
    return {**best, "max": held}


async def login_storm(
    side: Side, seconds: float, concurrency: int, passwords: Passwords
) -> Measure:
    """Logins as fast as they come against the Argon2 ceiling; a probe, idle and meanwhile."""
    password_hash = await passwords.hash(PASSWORD)
    walls, cpus = [], []
    for _ in range(HASH_SAMPLES):
        clock = Stopwatch()
        await passwords.verify(password_hash, PASSWORD)
        walls.append(clock.seconds())
        cpus.append(clock.cpu_seconds())
    # Its CPU time is what a hash costs (its wall time is less when its lanes run in threads).
    ceiling = len(os.sched_getaffinity(0)) / statistics.median(cpus)
    idle = await paced(seconds * IDLE_PROBE_SPANS, PROBE_RATE, lambda _n: side.probe())

    async def probe_once_under_way() -> list[float]:
        await asyncio.sleep(STORM_ONSET)
        return await paced(seconds, PROBE_RATE, lambda _n: side.probe())

    storm, during = await asyncio.gather(
        closed_loop(STORM_ONSET + seconds, concurrency, side.log_in), probe_once_under_way()
    )
    probes = {**latency_figures(idle, "idle probe "), **latency_figures(during, "probe ")}
    return {
        **storm,
        "ceiling": ceiling,
        "of ceiling": storm["rate"] / ceiling,
        "hash wall": statistics.median(walls) * 1000,
        "hash cpu": statistics.median(cpus) * 1000,
        **probes,
        "probe ratio": probes["probe p99"] / probes["idle probe p99"],
    }


async def idle_sockets(side: Side, sockets: int) -> Measure:
    """`sockets` idle WebSockets held open: the server's memory per socket."""
    before = rss_kib(side.pid)
    opening = asyncio.Semaphore(OPENING)
    readers: list[asyncio.Task[None]] = []

    async def open_one(n: int) -> aiohttp.ClientWebSocketResponse:
        async with opening:
            ws = await side.idle_socket(n)
        # Unanswered pings would have the server drop the sockets opened first.
        readers.append(asyncio.create_task(drain(ws)))
        return ws

    clock = Stopwatch()
    held = await asyncio.gather(*(open_one(n) for n in range(sockets)))
    opened = sockets / clock.seconds()
    await asyncio.sleep(1)
    after = rss_kib(side.pid)
    await asyncio.gather(*(ws.close() for ws in held))
    for reader in readers:
        reader.cancel()
    return {
        "opened": opened,
        "rss before": before / 1024,
        "rss after": after / 1024,
        "per socket": (after - before) / sockets,
    }


async def search(side: Side, sizes: tuple[int, ...], runs: int, seconds: float) -> list[Measure]:
    """Every query of SEARCHES at each size, `runs` times: one Measure per run, its figures
    named "<size> <key> p50" and so on."""
    find, fill = side.search, side.fill
    assert find is not None
    assert fill is not None
    measures: list[Measure] = [{} for _ in range(runs)]
    for size in sizes:
        print(f"search: filling the chat to {size:,} messages ...", file=sys.stderr)
        clock = Stopwatch()
        written = await fill(size)
        print(f"  {written:,} written, and vacuumed, in {clock.seconds():.1f} s", file=sys.stderr)
        for run in range(runs):
            print(f"run {run + 1} of {runs}: search at {size:,}, {side.name} ...", file=sys.stderr)
            for key, _name, _query, q, in_chat in SEARCHES:
                figures = await closed_loop(
                    seconds,
                    SEARCH_CLIENTS,
                    lambda _n, q=q, in_chat=in_chat: find(q, in_chat),
                )
                measures[run].update({f"{size} {key} {name}": v for name, v in figures.items()})
    return measures


def rss_kib(pid: int) -> int:
    """The resident memory of pid and its descendants (a server's workers), in KiB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # gone since the listing
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        process = todo.pop()
        todo += children.get(process, [])
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{process}/status").read_text()
            total += next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")),
                0,
            )
    return total


def raise_open_files(needed: int) -> None:
    """Let this process, and the servers it starts (they inherit it), hold `needed` files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:  # only root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            print(f"can only open {hard} files; --sockets may fail", file=sys.stderr)
            needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def until_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


class Api:
    """Chaat's public API, as any client drives it."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, expect: int = 200
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            if r.status != expect:
                raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
            return await r.json() if r.content_type == "application/json" else None

    async def hit(
        self, method: str, path: str, token: str | None, body: Any = None, expect: int = 200
    ) -> None:
        """A workload's request: its status checked and its body read, not parsed, as the
        baseline's are, so that the generator's work per request is the same on both."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            if r.status != expect:
                raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
            await r.read()

    async def user(self, name: str) -> tuple[int, str]:
        body = {"username": name, "password": PASSWORD}
        await self.call("POST", "/v1/users", body=body, expect=201)
        session = await self.call("POST", "/v1/tokens", body=body, expect=201)
        return session["user"]["id"], session["token"]


async def ready_socket(
    session: aiohttp.ClientSession, url: str, token: str | None = None
) -> aiohttp.ClientWebSocketResponse:
    """A WebSocket to url (the token, if any, in the header), past its ready frame."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await session.ws_connect(url, headers=headers)
    ready = await ws.receive()
    if ready.type != aiohttp.WSMsgType.TEXT:
        raise RuntimeError(f"{url}: {ready.type.name} {ready.data} {ready.extra or ''}")
    return ws


async def set_up(
    session: aiohttp.ClientSession, chaat: Server, base: Server, dsn: str, *, idle_users: int
) -> list[Side]:
    """The same chats on both servers; the two Sides that drive them."""
    api = Api(session, chaat.url)
    (owner_id, owner), *members = await asyncio.gather(
        api.user("owner"), *(api.user(f"member{n}") for n in range(MEMBERS))
    )
    idlers = await asyncio.gather(*(api.user(f"idle{n}") for n in range(idle_users)))
    for n, (_, token) in enumerate(members):
        request = await api.call("POST", "/v1/friend-requests", owner, {"to": f"member{n}"}, 201)
        await api.call(
            "PATCH", f"/v1/friend-requests/{request['id']}", token, {"status": "accepted"}
        )
    everyone = [m for m, _ in members]
    chats = [
        (await api.call("POST", "/v1/chats", owner, {"participants": [m]}, 201))["id"]
        for m in everyone
    ]
    groups = [
        (await api.call("POST", "/v1/chats", owner, {"participants": everyone}, 201))["id"]
        for _ in range(3)
    ]
    chats += groups[:2]
    fan, deep = groups[2], groups[0]
    conn = await asyncpg.connect(dsn)
    try:
        postmaster = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()")).ppid()
        # A long history in both, written straight to the tables.
        await conn.execute(
            """
            INSERT INTO message (chat_sesh_id, seq, sender_id, body)
            SELECT $1, n, $2, 'history ' || n FROM generate_series(1, $3) n;
            UPDATE chat_sesh SET last_seq = $3 WHERE id = $1;
            INSERT INTO baseline.chat VALUES ($1, $3);
            INSERT INTO baseline.message (chat_id, seq, sender_id, body)
            SELECT $1, n, $2, 'history ' || n FROM generate_series(1, $3) n;
            """.replace("$1", str(deep))
            .replace("$2", str(owner_id))
            .replace("$3", str(HISTORY))
        )
        # And their message.created events, as a server that sent them keeps them (for
        # CHAAT_EVENT_RETENTION): 1,000 a transaction, the most one may write. Then
        # ANALYZE, as autovacuum soon would: PostgreSQL plans each prepared statement
        # once (db.create_pool), and a plan made while the event table was nearly empty
        # reads the whole table on every later read, until autovacuum analyzes it.
        for first in range(1, HISTORY + 1, 1000):
            await conn.execute(
                "INSERT INTO event (chat_sesh_id, type, message_id)"
                " SELECT chat_sesh_id, 'message.created', id FROM message"
                " WHERE chat_sesh_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                deep,
                first,
                first + 999,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    searched = chats[0]  # owner and member0

    async def fill(size: int) -> int:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                last = await conn.fetchval(
                    "SELECT last_seq FROM chat_sesh WHERE id = $1 FOR UPDATE", searched
                )
                if last < size:
                    await conn.execute("SELECT setseed(0.5)")
                    await conn.execute(
                        FILL, searched, owner_id, everyone[0], last + 1, size, VOCABULARY.split()
                    )
                    await conn.execute(
                        "UPDATE chat_sesh SET last_seq = $2 WHERE id = $1", searched, size
                    )
            await conn.execute("VACUUM (ANALYZE) message")
        finally:
            await conn.close()
        return max(0, size - last)

    events = chaat.url.replace("http", "ws", 1) + "/v1/events"
    listen = base.url.replace("http", "ws", 1) + "/listen"

    async def chaat_listen() -> list[aiohttp.ClientWebSocketResponse]:
        return [await ready_socket(session, events, token) for _, token in members]

    async def baseline_listen() -> list[aiohttp.ClientWebSocketResponse]:
        return [await ready_socket(session, f"{listen}/{fan}") for _ in members]

    async def baseline_post(path: str, body: Any, expect: int) -> None:
        async with session.post(base.url + path, json=body) as resp:
            assert resp.status == expect, await resp.text()
            await resp.read()

    async def baseline_get(path: str) -> None:
        async with session.get(base.url + path) as resp:
            assert resp.status == 200
            await resp.read()

    return [
        Side(
            "baseline",
            base.pid,
            postmaster,
            send=lambda n: baseline_post(
                f"/send/{chats[n % len(chats)]}", {"sender_id": owner_id, "body": f"m{n}"}, 201
            ),
            history=lambda: baseline_get(f"/history/{deep}?limit=50"),
            listen=baseline_listen,
            fan_send=lambda body: baseline_post(
                f"/send/{fan}?everywhere", {"sender_id": owner_id, "body": body}, 201
            ),
            log_in=lambda _n: baseline_post("/login", {"password": PASSWORD}, 201),
            probe=lambda: baseline_get("/history/0?limit=1"),
            idle_socket=lambda _n: ready_socket(session, f"{listen}/0"),
        ),
        Side(
            "chaat",
            chaat.pid,
            postmaster,
            send=lambda n: api.hit(
                "POST", f"/v1/chats/{chats[n % len(chats)]}/messages", owner, {"body": f"m{n}"}, 201
            ),
            history=lambda: api.hit("GET", f"/v1/chats/{deep}/messages?limit=50", owner),
            listen=chaat_listen,
            fan_send=lambda body: api.hit(
                "POST", f"/v1/chats/{fan}/messages", owner, {"body": body}, 201
            ),
            log_in=lambda n: api.hit(
                "POST",
                "/v1/tokens",
                None,
                {"username": f"member{n % MEMBERS}", "password": PASSWORD},
                201,
            ),
            probe=lambda: api.hit("GET", "/v1/users/me", owner),
            idle_socket=lambda n: ready_socket(session, events, idlers[n % len(idlers)][1]),
            search=lambda q, in_chat: api.call(
                "GET", f"/v1/messages?q={q}" + (f"&chat={searched}" if in_chat else ""), owner
            ),
            fill=fill,
        ),
    ]


FILL = f"""
INSERT INTO message (chat_sesh_id, seq, sender_id, body)
SELECT $1, seq, CASE WHEN seq % 2 = 0 THEN $2::bigint ELSE $3::bigint END, concat_ws(' ',
    w[1 + floor(random() * cardinality(w))::int],
    CASE WHEN random() < {COMMON_SHARE} THEN '{COMMON}' END,
    w[1 + floor(random() * cardinality(w))::int],
    w[1 + floor(random() * cardinality(w))::int],
    CASE WHEN random() < 0.5 THEN w[1 + floor(random() * cardinality(w))::int] END,
    CASE WHEN seq % {RARE_EVERY} = 0 THEN '{RARE}' END)
FROM generate_series($4::bigint, $5::bigint) AS seq, (SELECT $6::text[] AS w) AS vocabulary
"""
"""The searched chat's messages from seq $4 to $5, sent in turn by $2 and $3: a few words
of the vocabulary $6, COMMON in most, RARE in a few."""


@contextlib.contextmanager
def database() -> Iterator[str]:
    """An embedded PostgreSQL in a temporary folder (DATABASE_URL, when set, instead)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="chaat-bench-") as tmp:
        os.chmod(tmp, 0o711)  # as root, PostgreSQL runs as another user: let it in
        user = embedded.user_to_run_as(os.environ.get("CHAAT_PG_USER") or "nobody")
        with embedded.postgres(Path(tmp) / "pg", user=user) as url:
            yield url


@contextlib.asynccontextmanager
async def servers(
    args: argparse.Namespace, dsn: str, settings: Settings, password_hash: str
) -> AsyncIterator[tuple[Server, Server]]:
    """`chaat serve` and the baseline, answering, for the block: Chaat's first."""
    chaat_port, baseline_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "CHAAT_SECRET_KEY": secrets.token_urlsafe(32),
        "CHAAT_RATE_LIMITS": "off",  # a load test is a flood by design
        "CHAAT_LOG_LEVEL": "WARNING",
        # Stated, so that the generator's hashes (the ceiling, the baseline's) are Chaat's.
        "CHAAT_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "CHAAT_ARGON2_MEMORY_COST": str(settings.argon2_memory_cost),
    }
    processes = [
        await asyncio.create_subprocess_exec(
            args.chaat_python,
            *("-m", "chaat", "serve", "--port", str(chaat_port), "--workers", str(args.workers)),
            env=env,
            cwd=tempfile.gettempdir(),  # not a checkout: -m chaat finds the installed chaat
        ),
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "baseline.py"),
            dsn,
            str(baseline_port),
            password_hash,
            str(args.workers),
            env=env,
        ),
    ]
    try:
        chaat = Server(f"http://127.0.0.1:{chaat_port}", processes[0].pid)
        base = Server(f"http://127.0.0.1:{baseline_port}", processes[1].pid)
        await until_up(f"{chaat.url}/v1/health")
        await until_up(f"{base.url}/history/0")
        yield chaat, base
    finally:
        for process in processes:
            process.terminate()
            await process.wait()


async def bench(args: argparse.Namespace, dsn: str) -> None:
    settings = Settings.from_env()
    passwords = Passwords(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost
    )
    workloads: dict[str, Callable[[Side], Awaitable[Measure]]] = {
        "send": lambda side: closed_loop(args.seconds, args.concurrency, side.send, side=side),
        "history": lambda side: closed_loop(
            args.seconds, args.concurrency, lambda _n: side.history(), side=side
        ),
        "fan-out": lambda side: fan_out(side, args.seconds, args.rate),
        "fan-out-max": lambda side: fan_out_max(side, args.seconds, args.rate),
        "login": lambda side: login_storm(side, args.seconds, args.concurrency, passwords),
        "idle": lambda side: idle_sockets(side, args.sockets),
    }  # and search, after the rest: see below
    shown = {**WORKLOADS, "search": search_workload(args.search_sizes)}
    idle_users = min(IDLE_USERS, args.sockets) if "idle" in args.workload else 0
    async with (
        servers(args, dsn, settings, await passwords.hash(PASSWORD)) as (chaat, base),
        # Idle connections go after 5 s, well before the server closes them (20 s): the
        # search fill leaves them idle, and one reused as it closed failed a run.
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=5)
        ) as session,
    ):
        print("setting up ...", file=sys.stderr)
        sides = await set_up(session, chaat, base, dsn, idle_users=idle_users)
        for run in range(args.runs):
            for side in sides:
                for name, workload in WORKLOADS.items():
                    if name in workloads and name in args.workload and not (workload.once and run):
                        print(
                            f"run {run + 1} of {args.runs}: {name}, {side.name} ...",
                            file=sys.stderr,
                        )
                        side.measures.setdefault(name, []).append(await workloads[name](side))
        if "search" in args.workload:
            for side in sides:
                if side.search is not None:
                    side.measures["search"] = await search(
                        side, args.search_sizes, args.runs, args.seconds
                    )
    baseline, ours = (side.measures for side in sides)
    heading = (
        f"{args.runs} run{'s' if args.runs > 1 else ''} of {args.seconds:g} s,"
        f" {args.concurrency} clients, each server in {args.workers} process"
        f"{'es' if args.workers > 1 else ''}; medians (min-max)"
    )
    report.print_table(heading, report.lines(shown, baseline, ours))
    if args.report:
        run = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": f"`{shlex.join(sys.orig_argv)}`",
            **report.machine(),
            "PostgreSQL": await postgres_version(dsn),
            "aiohttp": aiohttp.__version__,
            "Argon2id": f"time cost {settings.argon2_time_cost},"
            f" memory {settings.argon2_memory_cost} KiB (Chaat's)",
        }
        params = {
            **vars(args),
            "idle_users": idle_users,
            "opening": OPENING,
            "probe_rate": PROBE_RATE,
            "onset": STORM_ONSET,
            "hash_samples": HASH_SAMPLES,
            "sustained_p99": SUSTAINED_P99,
            "bisections": BISECTIONS,
            "tries": TRIES,
            "idle_spans": IDLE_PROBE_SPANS,
        }
        written = report.write(
            args.report,
            workloads=shown,
            baseline=baseline,
            chaat=ours,
            run=run,
            heading=heading,
            params=params,
        )
        for path in written:
            print(f"wrote {path}", file=sys.stderr)


async def postgres_version(dsn: str) -> str:
    """The server's version, and where it runs."""
    conn = await asyncpg.connect(dsn)
    try:
        where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
        return f"{await conn.fetchval('SHOW server_version')} ({where})"
    finally:
        await conn.close()


def size_list(text: str) -> tuple[int, ...]:
    """--search-sizes: positive numbers, comma-separated, smallest first."""
    try:
        found = sorted({int(n) for n in text.split(",") if n.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not found or found[0] < 1:
        raise argparse.ArgumentTypeError(f"not positive numbers: {text!r}")
    return tuple(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0, help="fan-out messages per second")
    parser.add_argument(
        "--sockets", type=int, default=10_000, help="idle WebSockets held open on each server"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes of each server: chaat serve --workers, and the baseline's",
    )
    parser.add_argument(
        "--search-sizes",
        type=size_list,
        default=SEARCH_SIZES,
        metavar="N,N,...",
        help="messages in the searched chat, each size in turn"
        f" (default: {','.join(map(str, SEARCH_SIZES))})",
    )
    parser.add_argument(
        "--chaat-python",
        default=sys.executable,
        help="the Python whose chaat to measure (another version's venv, to compare)",
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=list(WORKLOADS),
        help="run only this workload (repeat for several; default: all)",
    )
    parser.add_argument(
        "--report",
        nargs="?",
        type=Path,
        const=HERE.parent / "docs",
        metavar="DIR",
        help="write PERFORMANCE.md and performance.png to DIR (default: docs/)",
    )
    args = parser.parse_args()
    args.workload = args.workload or list(WORKLOADS)
    if "idle" in args.workload:
        raise_open_files(args.sockets + 1024)
    with database() as dsn:
        asyncio.run(bench(args, dsn))


if __name__ == "__main__":
    main()
