"""Chaat against the baseline server (bench/baseline.py), side by side, on the same database.

Starts an embedded PostgreSQL, `chaat serve` and the baseline, sets up the same chats in
both, then runs each workload against the baseline and against Chaat, in turn, --runs
times, and prints medians (with min-max) and Chaat's ratio to the baseline:

- send: --concurrency clients sending as fast as they can, spread over 20 direct chats
  and 2 groups (msgs/s and p99 latency);
- history: the newest 50 messages of a 10,000-message chat (requests/s);
- fan-out: a 21-member group, every member listening (WebSocket), one message every
  1/--rate s: the latency from sending to each member's receipt (p50, p99), and any lost.

Also prints the generator's own CPU share (this process, client side): near 100% of a
core means the generator, not the server, was the limit.

    python bench/compare.py                          # 3 runs of 5 s each
    python bench/compare.py --seconds 2 --runs 1     # a smoke run (CI runs this)
    python bench/compare.py --workers 2
    python bench/compare.py --chaat-python /tmp/old/.venv/bin/python   # an older Chaat
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from chaat import embedded

PASSWORD = "bench password 1"
MEMBERS = 20
HISTORY = 10_000
HERE = Path(__file__).resolve().parent


@dataclass
class Measure:
    """One workload on one server in one run."""

    rate: float
    p50: float
    p99: float
    cpu: float
    """The generator's CPU seconds per wall second."""
    lost: int = 0


@dataclass
class Side:
    """How to drive one server: the same workloads, each server's own API."""

    name: str
    send: Callable[[int], Awaitable[None]]
    history: Callable[[], Awaitable[None]]
    listen: Callable[[], Awaitable[list[aiohttp.ClientWebSocketResponse]]]
    fan_send: Callable[[str], Awaitable[None]]
    measures: dict[str, list[Measure]] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def closed_loop(
    seconds: float, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> Measure:
    """call(n) from `concurrency` loops for `seconds`, each as soon as the last answered."""
    latencies: list[float] = []
    counter = 0
    cpu, wall = time.process_time(), time.perf_counter()
    deadline = wall + seconds

    async def loop() -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            await call(counter)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    wall = time.perf_counter() - wall
    return Measure(
        rate=len(latencies) / wall,
        p50=statistics.median(latencies) * 1000,
        p99=percentile(latencies, 99) * 1000,
        cpu=(time.process_time() - cpu) / wall,
    )


async def fan_out(side: Side, seconds: float, rate: float) -> Measure:
    """One message every 1/rate s to the listening group; latency to every member."""
    sockets = await side.listen()
    sent: dict[str, float] = {}
    latencies: list[float] = []
    received = 0
    everything = asyncio.Event()

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal received
        async for msg in ws:
            data = json.loads(msg.data)
            body = (data.get("data") or data).get("body")
            if body in sent:
                latencies.append(time.perf_counter() - sent[body])
                received += 1
                if received == expected:
                    everything.set()

    expected = int(seconds * rate) * len(sockets)
    readers = [asyncio.create_task(receive(ws)) for ws in sockets]
    cpu, wall = time.process_time(), time.perf_counter()
    sending: list[asyncio.Task[None]] = []
    for n in range(int(seconds * rate)):
        body = f"fan {n} {secrets.token_hex(4)}"
        sent[body] = time.perf_counter()
        sending.append(asyncio.create_task(side.fan_send(body)))
        await asyncio.sleep(max(0.0, wall + (n + 1) / rate - time.perf_counter()))
    await asyncio.gather(*sending)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await everything.wait()
    wall = time.perf_counter() - wall
    for ws in sockets:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return Measure(
        rate=received / wall,
        p50=statistics.median(latencies) * 1000 if latencies else float("nan"),
        p99=percentile(latencies, 99) * 1000 if latencies else float("nan"),
        cpu=(time.process_time() - cpu) / wall,
        lost=expected - received,
    )


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

    async def user(self, name: str) -> tuple[int, str]:
        body = {"username": name, "password": PASSWORD}
        await self.call("POST", "/v1/users", body=body, expect=201)
        session = await self.call("POST", "/v1/tokens", body=body, expect=201)
        return session["user"]["id"], session["token"]


async def set_up(session: aiohttp.ClientSession, chaat: str, base: str, dsn: str) -> list[Side]:
    """The same chats on both servers; the two Sides that drive them."""
    api = Api(session, chaat)
    owner_id, owner = await api.user("owner")
    members = [await api.user(f"member{n}") for n in range(MEMBERS)]
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
        # A long history in both, written straight to the tables.
        await conn.execute(
            """
            INSERT INTO message (chat_sesh_id, seq, sender_id, body)
            SELECT $1, n, $2, 'history ' || n FROM generate_series(1, $3) n;
            UPDATE chat_sesh SET last_seq = $3 WHERE id = $1;
            INSERT INTO baseline.chat VALUES ($1, $3);
            INSERT INTO baseline.message (chat_id, seq, sender_id, body)
            SELECT $1, n, $2, 'history ' || n FROM generate_series(1, $3) n;
            ANALYZE;
            """.replace("$1", str(deep))
            .replace("$2", str(owner_id))
            .replace("$3", str(HISTORY))
        )
    finally:
        await conn.close()
    ws_base = chaat.replace("http", "ws", 1)

    async def chaat_listen() -> list[aiohttp.ClientWebSocketResponse]:
        sockets = []
        for _, token in members:
            ws = await session.ws_connect(
                f"{ws_base}/v1/events", headers={"Authorization": f"Bearer {token}"}
            )
            await ws.receive()  # ready
            sockets.append(ws)
        return sockets

    async def baseline_listen() -> list[aiohttp.ClientWebSocketResponse]:
        sockets = []
        for _ in members:
            ws = await session.ws_connect(f"{base.replace('http', 'ws', 1)}/listen/{fan}")
            await ws.receive()  # ready
            sockets.append(ws)
        return sockets

    async def baseline_post(path: str, body: Any, expect: int) -> None:
        async with session.post(base + path, json=body) as resp:
            assert resp.status == expect, await resp.text()
            await resp.read()

    async def baseline_get(path: str) -> None:
        async with session.get(base + path) as resp:
            assert resp.status == 200
            await resp.read()

    return [
        Side(
            "baseline",
            send=lambda n: baseline_post(
                f"/send/{chats[n % len(chats)]}", {"sender_id": owner_id, "body": f"m{n}"}, 201
            ),
            history=lambda: baseline_get(f"/history/{deep}?limit=50"),
            listen=baseline_listen,
            fan_send=lambda body: baseline_post(
                f"/send/{fan}", {"sender_id": owner_id, "body": body}, 201
            ),
        ),
        Side(
            "chaat",
            send=lambda n: api.call(
                "POST", f"/v1/chats/{chats[n % len(chats)]}/messages", owner, {"body": f"m{n}"}, 201
            ),
            history=lambda: api.call("GET", f"/v1/chats/{deep}/messages?limit=50", owner),
            listen=chaat_listen,
            fan_send=lambda body: api.call(
                "POST", f"/v1/chats/{fan}/messages", owner, {"body": body}, 201
            ),
        ),
    ]


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


async def bench(args: argparse.Namespace, dsn: str) -> None:
    chaat_port, baseline_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "CHAAT_SECRET_KEY": secrets.token_urlsafe(32),
        "CHAAT_LOG_LEVEL": "WARNING",
        # Cheap hashes: the setup signs in 21 users; logins are not measured here.
        "CHAAT_ARGON2_TIME_COST": "1",
        "CHAAT_ARGON2_MEMORY_COST": "1024",
    }
    servers = [
        await asyncio.create_subprocess_exec(
            args.chaat_python,
            "-m",
            "chaat",
            "serve",
            "--port",
            str(chaat_port),
            "--workers",
            str(args.workers),
            env=env,
            cwd=tempfile.gettempdir(),  # not a checkout: -m chaat finds the installed chaat
        ),
        await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "baseline.py"), dsn, str(baseline_port), env=env
        ),
    ]
    chaat, base = f"http://127.0.0.1:{chaat_port}", f"http://127.0.0.1:{baseline_port}"
    try:
        await until_up(f"{chaat}/v1/health")
        await until_up(f"{base}/history/0")
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            print("setting up ...", file=sys.stderr)
            sides = await set_up(session, chaat, base, dsn)
            for run in range(args.runs):
                print(f"run {run + 1} of {args.runs} ...", file=sys.stderr)
                for side in sides:
                    workloads = {
                        "send": closed_loop(args.seconds, args.concurrency, side.send),
                        "history": closed_loop(
                            args.seconds, args.concurrency, lambda _n, s=side: s.history()
                        ),
                        "fan-out": fan_out(side, args.seconds, args.rate),
                    }
                    for name, work in workloads.items():
                        if name in args.workload:
                            side.measures.setdefault(name, []).append(await work)
                        else:
                            work.close()
        report(sides, args)
    finally:
        for server in servers:
            server.terminate()
            await server.wait()


def report(sides: list[Side], args: argparse.Namespace) -> None:
    baseline, chaat = sides

    def spread(values: list[float], unit: str = "") -> str:
        return f"{statistics.median(values):.1f}{unit} ({min(values):.1f}-{max(values):.1f})"

    print(
        f"\n{args.runs} runs of {args.seconds:g} s, {args.concurrency} clients,"
        f" chaat --workers {args.workers}; medians (min-max)\n"
    )
    print("| workload | measure | baseline | chaat | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for name in baseline.measures:
        ours, theirs = chaat.measures[name], baseline.measures[name]
        rows = [("rate /s", "rate"), ("p50 ms", "p50"), ("p99 ms", "p99")]
        for label, attr in rows:
            a = [getattr(m, attr) for m in theirs]
            b = [getattr(m, attr) for m in ours]
            ratio = statistics.median(b) / statistics.median(a)
            print(f"| {name} | {label} | {spread(a)} | {spread(b)} | {ratio:.2f}x |")
        cpus = [spread([m.cpu * 100 for m in side], "%") for side in (theirs, ours)]
        print(f"| {name} | generator CPU | {cpus[0]} | {cpus[1]} | |")
        if name == "fan-out":
            lost = (sum(m.lost for m in theirs), sum(m.lost for m in ours))
            print(f"| {name} | deliveries lost | {lost[0]} | {lost[1]} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0, help="fan-out messages per second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--chaat-python",
        default=sys.executable,
        help="the Python whose chaat to measure (another version's venv, to compare)",
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=["send", "history", "fan-out"],
        help="run only this workload (repeat for several; default: all)",
    )
    args = parser.parse_args()
    args.workload = args.workload or ["send", "history", "fan-out"]
    with database() as dsn:
        asyncio.run(bench(args, dsn))


if __name__ == "__main__":
    main()
