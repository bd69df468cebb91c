"""The `chaat` command: serve, repl, admin, db."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

import asyncpg

from chaat import db, hub, invites, migrate, store
from chaat.embedded import EmbeddedError
from chaat.server import configure_logging, database, explain, serve
from chaat.settings import ConfigError, Settings, debug_from_env


@contextlib.asynccontextmanager
async def _upgraded_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A one-connection pool on the settings' database, its schema brought up to date."""
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, size=1)
    try:
        async with db.connection(pool) as conn:
            await migrate.upgrade(conn)
        yield pool
    finally:
        await pool.close()


async def _set_admin(settings: Settings, username: str, is_admin: bool) -> int:
    async with _upgraded_pool(settings) as pool, db.connection(pool) as conn:
        user_id = await store.users.set_admin(conn, username=username, is_admin=is_admin)
        if user_id is not None:
            unconfirmed = await hub.announce_revocation(conn, user_id)
    if user_id is None:
        print(f"chaat: no such user: {username}", file=sys.stderr)
        return 1
    if unconfirmed:
        print(
            f"chaat: {unconfirmed} server process(es) did not confirm within"
            f" {hub.REVOCATION_CONFIRM_SECONDS:.0f} s; they catch up when their listener"
            " reconnects",
            file=sys.stderr,
        )
    print(f"{username} is {'now' if is_admin else 'no longer'} an administrator")
    return 0


async def _make_invite(settings: Settings, uses: int, expires_in: int) -> int:
    async with _upgraded_pool(settings) as pool:
        invite = await invites.create(pool, uses=uses, expires_in=expires_in, created_by=None)
    print(invite["code"])  # alone on stdout, for scripts
    print(
        f"{invite['uses_left']} use(s), until {invite['expires_at']}"
        f" (signups need it when CHAAT_REGISTRATION=invite)",
        file=sys.stderr,
    )
    return 0


def admin(settings: Settings, args: argparse.Namespace) -> int:
    with database(settings, serving=False) as settings:
        if args.action == "invite":
            return asyncio.run(_make_invite(settings, args.uses, args.expires))
        return asyncio.run(_set_admin(settings, args.username, args.action == "promote"))


async def _database_schema(settings: Settings, action: str) -> int:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    applied: list[migrate.Migration] = []
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
    with database(settings, serving=False) as settings:
        return asyncio.run(_database_schema(settings, action))


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"chaat: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"at least one worker is needed, not {text!r}")
    return int(text)


def _bounded(name: str, least: int, most: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not least <= int(text) <= most:
            raise argparse.ArgumentTypeError(
                f"{name} takes a number from {least} to {most}, not {text!r}"
            )
        return int(text)

    return parse


DEBUG_HELP = "show the traceback with an error (or set CHAAT_DEBUG=1)"
DATA_DIR_HELP = "embedded database folder (CHAAT_DATA_DIR, default ./chaat-data)"


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="chaat",
        description="A self-hostable chat server.",
        epilog="Errors are one line on stderr; CHAAT_DEBUG=1 or --debug adds the traceback."
        " As root, the embedded PostgreSQL runs as the user CHAAT_PG_USER names.",
    )
    p.add_argument("--version", action="version", version=f"chaat {version('chaat')}")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the API server")
    s.add_argument("--host", help="address to listen on (CHAAT_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=_port, help="port to listen on (CHAAT_PORT, default 8080)")
    s.add_argument("--workers", type=_workers, help="server processes (CHAAT_WORKERS, default 1)")
    s.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)

    a = sub.add_parser("admin", help="administrators and invite codes")
    actions = a.add_subparsers(dest="action", required=True)
    promote = actions.add_parser("promote", help="make someone an administrator")
    demote = actions.add_parser("demote", help="make an administrator a user again")
    for action in (promote, demote):
        action.add_argument("username")
    invite = actions.add_parser("invite", help="print a new invite code")
    invite.add_argument(
        "--uses",
        type=_bounded("--uses", 1, invites.MOST_USES),
        default=invites.USES,
        help=f"signups it allows (default {invites.USES})",
    )
    invite.add_argument(
        "--expires",
        type=_bounded("--expires", 1, invites.LONGEST_EXPIRES_IN),
        default=invites.EXPIRES_IN,
        metavar="SECONDS",
        help=f"how long it stays valid (default {invites.EXPIRES_IN}: 7 days)",
    )
    for action in (promote, demote, invite):
        action.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)

    d = sub.add_parser("db", help="the database schema: its version, and upgrading it")
    d.add_argument("action", choices=["status", "upgrade"])
    d.add_argument("--data-dir", type=Path, help=DATA_DIR_HELP)

    r = sub.add_parser("repl", help="the interactive chat shell")
    r.add_argument("--server", default=os.environ.get("CHAAT_SERVER", "http://127.0.0.1:8080"))

    for command in (s, a, promote, demote, invite, d, r):
        # Also after the command; SUPPRESS keeps `chaat --debug serve` working.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "repl":  # the client: none of the server's settings concern it
        from chaat.repl.shell import run as run_shell

        exit_code: int = run_shell(args.server)
        return exit_code
    settings = None
    try:
        settings = Settings.from_env()
        if args.debug:
            settings = replace(settings, debug=True)
        configure_logging(settings, quiet=args.command != "serve")
        overrides = {
            name: value
            for name in ("host", "port", "workers", "data_dir")
            if (value := getattr(args, name, None)) is not None
        }
        settings = replace(settings, **overrides)
        return run(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug or debug_from_env():
            traceback.print_exc()
        print(f"chaat: {explain(exc, settings or Settings())}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError | EmbeddedError) else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        # Until aiohttp takes over: a stop signal unwinds, stopping PostgreSQL on the way.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGHUP, signal.default_int_handler)
        serve(settings)
    elif args.command == "admin":
        return admin(settings, args)
    elif args.command == "db":
        return database_schema(settings, args.action)
    return 0


if __name__ == "__main__":
    sys.exit(main())
