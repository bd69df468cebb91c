"""The benchmark runs: a few-second smoke of bench/compare.py (its figures are not judged
here, only that every workload ran against both servers and nothing was lost)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.timeout(300)


async def test_the_side_by_side_benchmark_runs(empty_database):
    env = {**os.environ, "DATABASE_URL": await empty_database()}
    bench = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "compare.py"),
        *("--seconds", "0.5", "--runs", "1", "--concurrency", "4", "--rate", "50"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await bench.communicate()
    assert bench.returncode == 0, err.decode()[-2000:]
    rows = [line.split("|")[1:-1] for line in out.decode().splitlines() if line.startswith("| ")]
    measured = {(cells[0].strip(), cells[1].strip()) for cells in rows}
    for workload in ("send", "history", "fan-out"):
        assert (workload, "rate /s") in measured
        assert (workload, "p99 ms") in measured
    (lost,) = [cells for cells in rows if cells[1].strip() == "deliveries lost"]
    assert (lost[2].strip(), lost[3].strip()) == ("0", "0")
