"""Running the server: the database it uses, and its worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import multiprocessing
import os
import signal
import socket
import sys
import traceback
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing.connection import wait
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from chaat import embedded, errors, migrate
from chaat.settings import ConfigError, Settings
from chaat.siblings import Siblings

WORKER_POOL_FLOOR = 2
"""Request connections a worker has at least, whatever CHAAT_POOL_SIZE / --workers."""

log = logging.getLogger("chaat")


@contextlib.contextmanager
def database(settings: Settings, *, serving: bool = True) -> Iterator[Settings]:
    """Settings with a database_url: DATABASE_URL, else an embedded PostgreSQL in data_dir.

    The embedded server lives in data_dir/pg, survives restarts, and stops when we exit.
    Only `serving` makes a new data folder (and its secret key); the other commands
    need one that exists, and share the server of a `chaat serve` running on it.
    """
    if settings.database_url:
        if serving and not settings.secret_key:
            raise ConfigError("CHAAT_SECRET_KEY must be set when DATABASE_URL is")
        asyncio.run(check_database(settings.database_url))
        yield settings
        return
    data_dir = settings.data_dir.absolute()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"the data folder {data_dir} is a file: choose a folder (--data-dir)")
    pgdata = data_dir / "pg"
    if not serving and not embedded.is_initialised(pgdata):
        raise ConfigError(
            f"no Chaat database in {data_dir}: check --data-dir, or make one there with"
            f" `chaat serve --data-dir {data_dir}`"
        )
    # Refuse (as root without CHAAT_PG_USER) before making anything.
    user = embedded.user_to_run_as(settings.pg_user)
    embedded.bin_dir()
    if not data_dir.exists():
        data_dir.mkdir(parents=True)
        # The PostgreSQL user only needs to pass through, to data_dir/pg.
        data_dir.chmod(0o711 if user else 0o700)
    if serving:
        settings = settings.with_secret_key_from(data_dir)
    with embedded.postgres(pgdata, user=user, share=not serving) as url:
        yield replace(settings, database_url=url)


async def check_database(url: str) -> None:
    """Connect once, turning what can go wrong into one line that says what to do."""
    parts = urlsplit(url)
    try:
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is malformed: {exc}") from None
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except asyncpg.InvalidCatalogNameError as exc:
        raise ConfigError(
            f"{exc} (DATABASE_URL): create it (createdb), or name another database"
        ) from None
    except asyncpg.PostgresError as exc:
        raise ConfigError(
            f"the database at {where} refused us: {exc}: check DATABASE_URL"
        ) from None
    except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise ConfigError(
            f"cannot reach the database at {where} ({reason}): is PostgreSQL running there?"
            " check DATABASE_URL"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is malformed: {exc}") from None
    await conn.close()


async def upgrade_schema(url: str) -> None:
    """Apply pending migrations once, before any worker starts."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()


def check_port(settings: Settings) -> None:
    """Fail before starting anything if we cannot listen where we are asked to."""
    try:
        addresses = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot listen on {settings.host!r} ({exc.strerror}): check --host (CHAAT_HOST)"
        ) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(listen_problem(settings, exc)) from None


def listen_problem(settings: Settings, exc: OSError) -> str:
    where = f"{settings.host}:{settings.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is already in use: stop what runs there, or choose another --port"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where}: choose a --port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: no such address here; check --host (CHAAT_HOST)"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def explain(exc: BaseException, settings: Settings) -> str:
    """The one line to show for exc: what is wrong and what to do."""
    if isinstance(exc, ConfigError | embedded.EmbeddedError | migrate.MigrationError):
        return str(exc)
    if isinstance(exc, errors.ChaatError):  # e.g. the database went away (Unavailable)
        return exc.message
    if isinstance(exc, OSError) and "bind" in str(exc) and exc.errno is not None:
        return listen_problem(settings, exc)
    if isinstance(exc, asyncpg.PostgresError):
        return f"the database refused us: {exc}: check DATABASE_URL and the database's limits"
    if isinstance(exc, OSError | asyncpg.InterfaceError):
        return f"lost the database: {exc.__class__.__name__}: {exc}"
    return (
        f"unexpected error: {exc.__class__.__name__}: {exc}"
        " (CHAAT_DEBUG=1 shows the traceback; please report it)"
    )


def serve(settings: Settings) -> None:
    """Run the server: in this process, or in `workers` processes sharing one port."""
    check_port(settings)
    with database(settings) as settings:
        assert settings.database_url
        asyncio.run(upgrade_schema(settings.database_url))
        if settings.workers == 1:
            run_worker(settings)
        else:
            run_workers(settings)


def worker_settings(settings: Settings) -> Settings:
    """One worker's settings: its share of the server's request connections
    (CHAAT_POOL_SIZE is for all workers together), at least WORKER_POOL_FLOOR.

    Measured with bench/compare.py on 2 cores, 32 clients sending: two workers of 10
    connections each spent 422 µs of PostgreSQL CPU per send and sent less than one
    process of 10; two of 5 spent 260 µs and sent 17% more than one process of 10.
    """
    share = max(WORKER_POOL_FLOOR, math.ceil(settings.pool_size / settings.workers))
    return replace(settings, pool_size=share)


def run_workers(settings: Settings) -> None:
    """Start the workers; stop them all on a signal, or when one fails (raising its error)."""
    # Spawned, not forked: each worker starts clean, with its own event loop and
    # pool. (run_worker lives here, not in __main__, so that the child can find it.)
    context = multiprocessing.get_context("spawn")
    failures = context.SimpleQueue()
    each = worker_settings(settings)
    # With the Redis bus, its channels wake each worker for its own users already.
    ends = Siblings.inboxes(settings.workers) if not settings.redis_url else None
    workers = [
        context.Process(
            target=worker_main,
            args=(each, failures, ends[n] if ends else None),
            name=f"chaat-worker-{n}",
        )
        for n in range(settings.workers)
    ]
    stopping = False

    def stop(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    for worker in workers:
        if stopping:
            break  # told to stop while starting them: start no more
        worker.start()
        if stopping:
            stop()  # the signal came while this one started, before stop() could see it
    for end in ends or ():
        end.close()  # the workers have their copies
    failed = None
    # A worker runs until we see its sentinel fire, whatever exitcode says meanwhile: the
    # sentinel fires a moment before the exit status can be collected, so a worker that
    # read as running just after wait() could read as ended when we chose what to wait
    # for next, and drop out unseen: no failure reported, nobody stopped, and we waited
    # for the other workers forever.
    running = [w for w in workers if w.pid is not None]
    while running:
        ended = wait([w.sentinel for w in running])
        for worker in [w for w in running if w.sentinel in ended]:
            running.remove(worker)
            worker.join()  # a moment, for its exit status
            if failed is None and not stopping:
                failed = worker
                stop()
    if failed is not None:
        message, details = failures.get() if not failures.empty() else (None, "")
        if details:
            sys.stderr.write(details)
        raise ConfigError(message or f"{failed.name} stopped (exit code {failed.exitcode})")


def worker_main(settings: Settings, failures: Any, siblings: Siblings | None) -> None:
    """A worker process: serve until told to stop; report a failure as its one line."""
    embedded.die_with_parent(signal.SIGTERM)()
    try:
        run_worker(settings, siblings)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        details = "".join(traceback.format_exception(exc)) if settings.debug else ""
        failures.put((explain(exc, settings), details))
        raise SystemExit(1) from None


def run_worker(settings: Settings, siblings: Siblings | None = None) -> None:
    from chaat import protocol
    from chaat.app import create_app

    configure_logging(settings)
    protocol.run(
        create_app(settings, siblings=siblings),
        host=settings.host,
        port=settings.port,
        reuse_port=settings.workers > 1,
    )


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Log at settings.log_level; quiet (the one-shot commands): warnings only, unless
    CHAAT_LOG_LEVEL asks for more."""
    level = "WARNING" if quiet and "CHAAT_LOG_LEVEL" not in os.environ else settings.log_level
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
