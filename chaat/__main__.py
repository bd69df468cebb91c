"""The `chaat` command: serve, repl, admin, db."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

import asyncpg

from chaat import db, migrate, store
from chaat.server import configure_logging, database, serve
from chaat.settings import ConfigError, Settings


async def _set_admin(settings: Settings, username: str, is_admin: bool) -> int:
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, size=1)
    try:
        async with pool.acquire() as conn:
            await migrate.upgrade(conn)
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


async def _database_schema(settings: Settings, action: str) -> int:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        if action == "upgrade":
            applied = await migrate.upgrade(conn)
            for migration in applied:
                print(f"applied {migration.name}")
        current = await migrate.status(conn)
    finally:
        await conn.close()
    if action == "upgrade" and not applied:
        print("nothing to do")
    print(f"schema version {current.version}" + (" (made by Chaat 1.0)" if current.legacy else ""))
    for migration in current.pending:
        print(f"pending {migration.name}")
    return 0


def database_schema(settings: Settings, action: str) -> int:
    """`chaat db status` and `chaat db upgrade`."""
    with database(settings) as settings:
        return asyncio.run(_database_schema(settings, action))


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

    d = sub.add_parser("db", help="the database schema: its version, and upgrading it")
    d.add_argument("action", choices=["status", "upgrade"])
    d.add_argument("--data-dir", type=Path, help="embedded database folder (default ./chaat-data)")

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
    configure_logging(settings)
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
        elif args.command == "db":
            return database_schema(settings, args.action)
        elif args.command == "repl":
            from chaat.repl.shell import run

            return run(args.server)
    except ConfigError as exc:
        print(f"chaat: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
