"""What bench/compare.py found, rendered: the table it prints and, with --report, a page of
Markdown (PERFORMANCE.md) and a plot of the latency percentiles (performance.png).

compare.py measures; this module only formats. A workload's figures are a Measure (a
dict of named numbers, one per run and server), and its Workload says which of them
the tables show (its Rows, each with issue 9's Target where it sets one) and which
latency percentiles the plot draws. A workload only Chaat runs (search: the baseline
has none) shows "—" for the baseline. matplotlib is imported only to draw the plot, so
the benchmark itself does not need it.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

Measure = dict[str, float]
"""One workload on one server in one run: its figures by name ("rate", "p99", ...)."""

Runs = dict[str, list[Measure]]
"""One server's figures: every run of each workload, by the workload's name."""

PERCENTILES = (50, 90, 99, 99.9)
"""The latency percentiles measured; a workload's figures name them "p50" ... "p99.9"."""


@dataclass(frozen=True)
class Target:
    """A goal the issue sets: Chaat's ratio to the baseline, or Chaat's own figure, on one
    side of a bound."""

    bound: float
    at_least: bool = False
    of_ratio: bool = True

    def __str__(self) -> str:
        bound = f"{'≥' if self.at_least else '≤'} {self.bound:g}"
        return f"ratio {bound}" if self.of_ratio else f"Chaat {bound}"

    def verdict(self, chaat: float, ratio: float) -> str:
        """Whether the target is met: yes, no, or n/a (a ratio to a baseline of zero)."""
        value = ratio if self.of_ratio else chaat
        if math.isnan(value):
            return "n/a"
        return "yes" if (value >= self.bound if self.at_least else value <= self.bound) else "no"


@dataclass(frozen=True)
class Row:
    """One line of a workload's table: the figure named `key`, for each server; or, with
    several keys, those figures in one cell, " / " between them (no ratio, no target)."""

    label: str
    key: str | tuple[str, ...]
    fmt: str = ".1f"
    target: Target | None = None
    ratio: bool = True
    """Whether Chaat's figure over the baseline's means anything (not for the generator's)."""

    def cell(self, runs: list[Measure]) -> str:
        """The figure(s) over the runs, as spread() shows them."""
        keys = (self.key,) if isinstance(self.key, str) else self.key
        return " / ".join(spread([m[key] for m in runs if key in m], self.fmt) for key in keys)


@dataclass(frozen=True)
class Plot:
    """One panel of performance.png: the latency percentiles of both servers."""

    title: str
    series: tuple[tuple[str, str], ...] = (("", ""),)
    """(label, prefix) for each pair of lines: the figures named prefix + "p50" and so on."""


@dataclass(frozen=True)
class Workload:
    """What a workload does, in a paragraph, and how its figures are shown. The paragraph
    and the plots' titles are format strings, filled in with the run's parameters."""

    about: str
    rows: tuple[Row, ...]
    plots: tuple[Plot, ...] = ()
    once: bool = False
    """Measured in the first run only."""
    chaat_only: bool = False
    """The baseline has no such thing: its column shows "—"."""


@dataclass(frozen=True)
class Line:
    """A Row as it prints: each server's median (min-max), the ratio, the target and verdict."""

    workload: str
    measure: str
    baseline: str
    chaat: str
    ratio: str
    target: str
    met: str

    def cells(self) -> list[str]:
        return list(astuple(self))


def lines(workloads: dict[str, Workload], baseline: Runs, chaat: Runs) -> list[Line]:
    """Every row of every workload that ran, in order."""
    out = []
    for name, workload in workloads.items():
        if name not in chaat:
            continue
        for row in workload.rows:
            ratio, met = math.nan, ""
            if isinstance(row.key, str):
                theirs = [m[row.key] for m in baseline.get(name, []) if row.key in m]
                ours = [m[row.key] for m in chaat[name] if row.key in m]
                if row.ratio:
                    ratio = _ratio(ours, theirs)
                if row.target is not None and ours:
                    met = row.target.verdict(statistics.median(ours), ratio)
            out.append(
                Line(
                    name,
                    row.label,
                    "—" if workload.chaat_only else row.cell(baseline.get(name, [])),
                    row.cell(chaat[name]),
                    "" if math.isnan(ratio) else f"{ratio:.2f}x",
                    "" if row.target is None else str(row.target),
                    met,
                )
            )
    return out


def _ratio(ours: list[float], theirs: list[float]) -> float:
    if not (ours and theirs) or statistics.median(theirs) in (0, math.inf):
        return math.nan
    return statistics.median(ours) / statistics.median(theirs)


def spread(values: list[float], fmt: str = ".1f") -> str:
    """The median, and (min-max) when the runs differed."""
    if not values:
        return "-"
    median, low, high = (
        format(v, fmt) for v in (statistics.median(values), min(values), max(values))
    )
    return median if low == high else f"{median} ({low}-{high})"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    return "\n".join(
        "| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows]
    )


def print_table(heading: str, found: list[Line]) -> None:
    """Every workload's rows in one table, on stdout."""
    header = ["workload", "measure", "baseline", "chaat", "ratio", "target", "met"]
    rows = [line.cells() for line in found]
    print(f"\n{heading}\n\n{table(header, rows)}")


def machine() -> dict[str, str]:
    """The machine's side of a run: its CPUs and system, and this Python."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0))
    return {
        "machine": f"{cpus} CPUs ({model}), {platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def write(
    directory: Path,
    *,
    workloads: dict[str, Workload],
    baseline: Runs,
    chaat: Runs,
    run: dict[str, str],
    heading: str,
    params: dict[str, Any],
) -> list[Path]:
    """PERFORMANCE.md (and performance.png, when some workload has latencies) in directory.

    `run` describes the run (date, command, versions), a line for each entry; `params`
    fill in the workloads' descriptions.
    """
    directory.mkdir(parents=True, exist_ok=True)
    png = directory / "performance.png"
    written = [png] if plot(png, workloads, baseline, chaat, params) else []
    found = lines(workloads, baseline, chaat)
    md = directory / "PERFORMANCE.md"
    text = markdown(workloads, found, run, heading, params, png.name if written else None)
    md.write_text(text)
    return [md, *written]


def markdown(
    workloads: dict[str, Workload],
    found: list[Line],
    run: dict[str, str],
    heading: str,
    params: dict[str, Any],
    png: str | None,
) -> str:
    """The page: the run, the targets, a section per workload, and the plot if there is one."""
    targets = [line.cells() for line in found if line.target]
    parts = [
        "# Chaat's performance",
        "Chaat measured side by side with a baseline by `bench/compare.py`, which wrote this"
        " page" + (f" and [{png}]({png})" if png else "") + "; to refresh them, run the"
        " command below again. The baseline (`bench/baseline.py`) is the thinnest honest"
        " aiohttp + asyncpg server doing the same database work as Chaat's hot paths, with no"
        " authentication and no checks. Both servers, their PostgreSQL and the load"
        " generator share the machine's cores.",
        f"{heading}. The ratio is Chaat's figure over the baseline's; a target is issue"
        " 9's goal for Chaat. *generator CPU* is the load generator's own share of one"
        " core: near 100% means the generator, not the server, set the pace.",
        "## The run",
        "\n".join(f"- **{key}**: {value}" for key, value in run.items()),
    ]
    if targets:
        parts += [
            "## Targets",
            table(["workload", "measure", "baseline", "Chaat", "ratio", "target", "met"], targets),
        ]
    header = ["measure", "baseline", "Chaat", "ratio", "target", "met"]
    for name, workload in workloads.items():
        rows = [line.cells()[1:] for line in found if line.workload == name]
        if rows:
            parts += [f"## {name}", workload.about.format(**params), table(header, rows)]
    if png:
        parts += [
            "## Latency percentiles",
            "Milliseconds, on a logarithmic scale; p99.9 only where a run had 1,000"
            " samples or more. Medians over the runs. Chaat alone in the panels of a"
            " workload the baseline does not run.",
            f"![Latency percentiles of the baseline and Chaat, by workload]({png})",
        ]
    return "\n\n".join(parts) + "\n"


def plot(
    path: Path, workloads: dict[str, Workload], baseline: Runs, chaat: Runs, params: dict[str, Any]
) -> bool:
    """Draw every Plot of the workloads that ran into path; False if there was none."""
    panels = [
        (name, panel)
        for name, workload in workloads.items()
        if name in chaat
        for panel in workload.plots
    ]
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    labels = [f"p{q:g}" for q in PERCENTILES]
    sides = (("baseline", baseline, "tab:blue"), ("Chaat", chaat, "tab:orange"))
    for ax, (name, panel) in zip(axes.flat, panels, strict=False):
        shown: set[int] = set()
        for side, runs, color in sides:
            if not runs.get(name):  # a workload the baseline does not run
                continue
            for (series, prefix), style in zip(panel.series, ("-", "--", ":"), strict=False):
                points = [
                    (x, statistics.median([m[prefix + label] for m in runs[name]]))
                    for x, label in enumerate(labels)
                    if all(prefix + label in m for m in runs[name])
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    label = f"{side}, {series}" if series else side
                    ax.plot(xs, ys, style, marker="o", color=color, label=label)
                    shown.update(xs)
        ax.set_title(panel.title.format(**params), fontsize=10)
        ax.set_xticks(sorted(shown), [labels[x] for x in sorted(shown)])
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * (high / low) ** 0.25)  # room at the top for the legend
        _plain_log_labels(ax)
        ax.set_ylabel("ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", ncols=2)
    figure.suptitle("Latency percentiles: baseline and Chaat (medians of the runs)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _plain_log_labels(ax: Any) -> None:
    """Label a log axis with plain numbers (20, 50, 100, not powers of ten): at 2 and 5
    times each power of ten, and at more of its multiples the narrower the axis, so that
    every panel has a few labels and none crowd."""
    from matplotlib.ticker import FuncFormatter

    low, high = ax.get_ylim()
    leading = "23456789" if high / low < 4 else "2357" if high / low < 30 else "25"
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in leading else "")
    )
