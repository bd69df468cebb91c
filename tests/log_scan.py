"""A pytest plugin: no log ever holds a password, a token or a message body (issue 11).

conftest.py registers it. For the whole session the root logger runs at DEBUG and every
record of this process (the in-process servers the tests drive, their libraries) is
formatted, traceback included, and scanned; so is what a test's subprocesses wrote to
the captured stderr (the `chaat serve`s that inherit it). A line that holds the tests'
password, a token (chaat_ and a signed payload) or MARKER_BODY fails the test during
which it was written, as an error at its teardown naming the line (the secret masked);
a line written outside any test fails the session.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterable
from typing import Any

import pytest
from conftest import PASSWORD

TOKEN = re.compile(r"chaat_[\w-]+\.[\w-]+\.[\w-]+")
"""A token as chaat.security.Tokens signs it: the prefix, then itsdangerous's
payload.timestamp.signature (URL-safe base64)."""
MARKER_BODY = "log-scan marker body 5be1c0de"
"""A message body that tests send where a leak would show: no log may ever hold it."""

SECRETS = (
    (re.compile(re.escape(PASSWORD)), "<PASSWORD>"),
    (TOKEN, "<TOKEN>"),
    (re.compile(re.escape(MARKER_BODY)), "<BODY>"),
)


def leaks(text: str) -> list[str]:
    """The lines of text that hold a secret, each with its secrets masked."""
    found = []
    for line in text.splitlines():
        masked = line
        for pattern, mask in SECRETS:
            masked = pattern.sub(mask, masked)
        if masked != line:
            found.append(masked[:500])
    return found


class _Scanner(logging.Handler):
    """Formats every record and keeps the lines that leak, by the test under way."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.test: str | None = None
        self.found: dict[str | None, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is no leak of ours
            return
        if found := leaks(text):
            self.found.setdefault(self.test, []).extend(found)


_scanner = _Scanner()
_saved_level = logging.WARNING


def pytest_sessionstart(session: pytest.Session) -> None:
    global _saved_level
    root = logging.getLogger()
    _saved_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(_scanner)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    _scanner.test = item.nodeid
    try:
        return (yield)
    finally:
        _scanner.test = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when != "teardown":
        return report
    # By now the report carries every phase's captured output.
    stderr = "\n".join(text for name, text in report.sections if "stderr" in name)
    found = _scanner.found.pop(item.nodeid, []) + leaks(stderr)
    if found and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = _message(f"{item.nodeid} wrote", found)
    return report


def _message(who: str, found: Iterable[str]) -> str:
    lines = list(found)
    shown = "\n".join(f"    {line}" for line in lines[:20])
    more = f"\n    ... and {len(lines) - 20} more" if len(lines) > 20 else ""
    return (
        f"log scan: {who} {len(lines)} log line(s) holding a password, a token or a"
        f" message body (masked here):\n{shown}{more}"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    root = logging.getLogger()
    root.removeHandler(_scanner)
    root.setLevel(_saved_level)
    outside = [line for test, lines in _scanner.found.items() for line in lines]
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports them
        workeroutput["log_scan"] = outside
        return
    outside += _from_workers
    if outside:
        _report_outside.extend(outside)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_from_workers: list[str] = []
_report_outside: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: a worker's lines from outside its tests."""
    _from_workers.extend(getattr(node, "workeroutput", {}).get("log_scan", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _report_outside:
        terminalreporter.section("log scan", red=True)
        terminalreporter.line(_message("the session (outside any test)", _report_outside))
