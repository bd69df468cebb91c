"""The benchmark runs: a few-second smoke of bench/compare.py, every workload at tiny sizes,
and the report it writes (its figures are not judged here, only that every workload ran
against both servers, or against Chaat alone for search, nothing was lost at the fixed
fan-out rate, and the page and the plot were written)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.timeout(300)

MEASURED = [
    ("send", "msgs /s"),
    ("send", "p99 ms"),
    ("history", "requests /s"),
    ("history", "p99 ms"),
    ("fan-out", "deliveries /s"),
    ("fan-out", "p99 ms"),
    ("fan-out-max", "max sustained msgs /s"),
    ("login", "logins /s"),
    ("login", "logins ÷ ceiling"),
    ("login", "probe p99, storm ÷ idle"),
    ("idle", "KiB per socket"),
]
"""Rows that must have a figure for both servers, whatever the machine's speed."""

SEARCHED = [
    ("search", "2,000 msgs, rare (q=xylo): p50 / p99 ms"),
    ("search", "2,000 msgs, common (q=th): p50 / p99 ms"),
    ("search", "2,000 msgs, in chat (q=xylo&chat=): p50 / p99 ms"),
    ("search", "2,000 msgs: searches /s (rare / common / in chat)"),
]
"""Rows that must have Chaat's figures (each query's, " / " between them) and no baseline."""


async def compare(
    database_url: str, *args: str
) -> tuple[str, dict[tuple[str, str], tuple[str, str]]]:
    """Run bench/compare.py at tiny sizes: its output, and its table's figures by (workload,
    measure): (baseline's, Chaat's)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        # Cheap hashes: the setup signs up 41 users, and the login storm is a smoke here.
        "CHAAT_ARGON2_TIME_COST": "1",
        "CHAAT_ARGON2_MEMORY_COST": "1024",
    }
    bench = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "compare.py"),
        *("--seconds", "0.3", "--runs", "1", "--concurrency", "4", "--rate", "50"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await bench.communicate()
    assert bench.returncode == 0, err.decode()[-2000:]
    rows = [line.split("|")[1:-1] for line in out.decode().splitlines() if line.startswith("| ")]
    return out.decode(), {(c[0].strip(), c[1].strip()): (c[2].strip(), c[3].strip()) for c in rows}


async def test_the_side_by_side_benchmark_runs_and_writes_its_report(empty_database, tmp_path):
    _, figures = await compare(
        await empty_database(),
        *("--sockets", "20", "--search-sizes", "2000", "--report", str(tmp_path)),
    )
    for row in MEASURED:
        assert row in figures
        assert "-" not in figures[row], row
    assert figures["fan-out", "deliveries lost"] == ("0", "0")
    for row in SEARCHED:
        baseline, chaat = figures[row]
        assert baseline == "—", row
        assert all(cell not in ("-", "nan") for cell in chaat.split(" / ")), (row, chaat)

    page = (tmp_path / "PERFORMANCE.md").read_text()
    for workload in ("send", "history", "fan-out", "fan-out-max", "login", "idle", "search"):
        assert f"\n## {workload}\n" in page
    assert "PostgreSQL" in page
    assert "--sockets 20" in page
    assert "2,000 msgs, common (q=th): p50 / p99 ms" in page
    assert "![" in page
    assert "(performance.png)" in page
    assert (tmp_path / "performance.png").read_bytes().startswith(b"\x89PNG")


async def test_both_servers_run_in_several_processes_and_fan_out_across_them(empty_database):
    """--workers 2: Chaat's workers and the baseline's processes share their port, and each
    server delivers a message sent through one process to listeners on the other."""
    out, figures = await compare(
        await empty_database(), "--workers", "2", "--workload", "send", "--workload", "fan-out"
    )
    assert "each server in 2 processes" in out
    for row in [("send", "msgs /s"), ("fan-out", "deliveries /s")]:
        assert "-" not in figures[row], row
    assert figures["fan-out", "deliveries lost"] == ("0", "0")
