"""Chaat's load benchmark: throughput and latency of the hot paths, as ratios to a baseline.

Starts its own server (on an embedded PostgreSQL in a temporary folder, or on
DATABASE_URL) unless --server is given, sets up users, friendships and chats through
the API, then runs each
scenario for --seconds with --concurrency clients and prints one row per scenario.
Figures are ratios to the baseline (GET /v1/health, measured in the same run),
because absolute numbers on a shared machine mean little.

    python bench/load.py                      # everything, default sizes
    python bench/load.py --seconds 5 --concurrency 32 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from compare import database, free_port, until_up

PASSWORD = "bench password 1"


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def row(self, baseline: Result) -> str:
        p50 = statistics.median(self.latencies) * 1000
        p99 = statistics.quantiles(self.latencies, n=100)[98] * 1000
        return (
            f"{self.name:<34} {self.rate:>9.0f}/s {self.rate / baseline.rate:>7.2f}x "
            f"{p50:>8.2f} ms {p99:>8.2f} ms"
        )


async def run_for(
    name: str, seconds: float, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> Result:
    """Run call(n) from `concurrency` loops for `seconds`; every call is one request."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = 0

    async def loop() -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            await call(counter)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return Result(name, len(latencies), time.perf_counter() - started, latencies)


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        expect: int | tuple[int, ...] = 200,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            if resp.status not in (expect if isinstance(expect, tuple) else (expect,)):
                raise RuntimeError(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json() if resp.content_type == "application/json" else None

    async def user(self, name: str) -> tuple[int, str]:
        await self.call(
            "POST", "/v1/users", body={"username": name, "password": PASSWORD}, expect=201
        )
        session = await self.call(
            "POST", "/v1/tokens", body={"username": name, "password": PASSWORD}, expect=201
        )
        return session["user"]["id"], session["token"]

    async def befriend(self, a: str, b_token: str, b_name: str, a_token: str) -> None:
        request = await self.call("POST", "/v1/friend-requests", a_token, {"to": b_name}, 201)
        await self.call(
            "PATCH", f"/v1/friend-requests/{request['id']}", b_token, {"status": "accepted"}
        )


async def bench(args: argparse.Namespace, base: str, dsn: str | None) -> None:
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Api(session, base)
        run = secrets.token_hex(3)
        print(f"setting up {args.group_size} users against {base} ...", file=sys.stderr)
        owner_id, owner = await api.user(f"owner_{run}")
        members = await asyncio.gather(
            *(api.user(f"member_{run}_{n}") for n in range(args.group_size - 1))
        )
        await asyncio.gather(
            *(
                api.befriend(f"owner_{run}", token, f"member_{run}_{n}", owner)
                for n, (_, token) in enumerate(members)
            )
        )
        friend_id = members[0][0]
        direct = await api.call("POST", "/v1/chats", owner, {"participants": [friend_id]}, 201)
        group = await api.call(
            "POST",
            "/v1/chats",
            owner,
            {"participants": [m for m, _ in members], "name": "bench group"},
            201,
        )
        # One direct chat per client loop, for sends that share no chat.
        spread = [
            (await api.call("POST", "/v1/chats", owner, {"participants": [m]}, (200, 201)))["id"]
            for m, _ in members[: args.concurrency]
        ]
        deep = await api.call(
            "POST", "/v1/chats", owner, {"participants": [members[1][0]], "name": "deep"}, 201
        )
        if dsn:
            # A long history, written straight to the database: sending it through
            # the API would take minutes and measure nothing new.
            conn = await asyncpg.connect(dsn)
            await conn.execute(
                """
                INSERT INTO message (chat_sesh_id, seq, sender_id, body)
                SELECT $1, n, $2, 'history ' || n FROM generate_series(1, $3) n;
                UPDATE chat_sesh SET last_seq = $3 WHERE id = $1;
                ANALYZE message;
                """.replace("$1", str(deep["id"]))
                .replace("$2", str(owner_id))
                .replace("$3", str(args.history))
            )
            await conn.close()

        seconds, concurrency = args.seconds, args.concurrency
        baseline = await run_for(
            "baseline: GET /v1/health",
            seconds,
            concurrency,
            lambda n: api.call("GET", "/v1/health"),
        )
        results = [
            await run_for(
                "GET /v1/users/me (auth only)",
                seconds,
                concurrency,
                lambda n: api.call("GET", "/v1/users/me", owner),
            ),
            await run_for(
                "send, direct chat",
                seconds,
                concurrency,
                lambda n: api.call(
                    "POST", f"/v1/chats/{direct['id']}/messages", owner, {"body": f"m{n}"}, 201
                ),
            ),
            await run_for(
                f"send, {len(spread)} direct chats in turn",
                seconds,
                concurrency,
                lambda n: api.call(
                    "POST",
                    f"/v1/chats/{spread[n % len(spread)]}/messages",
                    owner,
                    {"body": f"m{n}"},
                    201,
                ),
            ),
            await run_for(
                f"send, {args.group_size}-member group",
                seconds,
                concurrency,
                lambda n: api.call(
                    "POST", f"/v1/chats/{group['id']}/messages", owner, {"body": f"m{n}"}, 201
                ),
            ),
            await run_for(
                "history, newest 50",
                seconds,
                concurrency,
                lambda n: api.call("GET", f"/v1/chats/{deep['id']}/messages?limit=50", owner),
            ),
            await run_for(
                f"history, 50 before seq 100 of {args.history if dsn else 0}",
                seconds,
                concurrency,
                lambda n: api.call(
                    "GET", f"/v1/chats/{deep['id']}/messages?limit=50&before=100", owner
                ),
            ),
        ]
        # The unread count scans from the reader's marker: first the worst case
        # (a 100k-message chat never read), then the usual one.
        results.append(
            await run_for(
                f"chat list, marker {args.history if dsn else 0} behind",
                seconds,
                concurrency,
                lambda n: api.call("GET", "/v1/chats", owner),
            )
        )
        await api.call("POST", f"/v1/chats/{deep['id']}/read", owner, {"seq": 2**62}, 204)
        results.append(
            await run_for(
                f"chat list, all read ({args.group_size}-member group)",
                seconds,
                concurrency,
                lambda n: api.call("GET", "/v1/chats", owner),
            )
        )
        print(f"{'scenario':<34} {'rate':>11} {'ratio':>8} {'p50':>11} {'p99':>11}")
        print(baseline.row(baseline))
        for result in results:
            print(result.row(baseline))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="benchmark this running server instead of starting one")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    if args.server:
        await bench(args, args.server.rstrip("/"), os.environ.get("DATABASE_URL"))
        return
    with database() as dsn:
        port = free_port()
        env = {
            **os.environ,
            "CHAAT_RATE_LIMITS": "off",  # a load test is a flood by design
            "CHAAT_LOG_LEVEL": "WARNING",
            "DATABASE_URL": dsn,
            "CHAAT_SECRET_KEY": secrets.token_urlsafe(32),
        }
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chaat",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await until_up(f"{base}/v1/health")
            await bench(args, base, dsn)
        finally:
            server.terminate()
            await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
