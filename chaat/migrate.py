"""Schema migrations: the numbered SQL files in migrations/, each applied once, in order.

A migration is `migrations/NNNN_what_it_does.sql`, forward only. `upgrade` runs the
pending ones at every start (and from `chaat db upgrade`), each in its own
transaction, all under one advisory lock: workers or machines starting together
wait for each other, and each migration runs exactly once. The schema_migration
table records which ran; a database made by Chaat 1.0, before migrations, has no
such table and is at version 0 (its schema is 0001, which is why 0001 may run on it).

Why not a library: yoyo-migrations and alembic bring a second, synchronous driver
(and alembic SQLAlchemy) and their own lock tables; this is the one asyncpg
connection and advisory lock the server already has.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

log = logging.getLogger(__name__)

FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

LOCK = 0x63686161
"""The advisory lock every process takes to change the schema (any constant will do,
as long as it is the same everywhere: 'chaa' in ASCII)."""

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The schema cannot be brought up to date; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    """The file name, e.g. 0002_groups_without_a_name.sql."""
    sql: str


@dataclass(frozen=True)
class Status:
    version: int
    """The last migration applied; 0 for an empty database or one made by Chaat 1.0."""
    pending: list[Migration]
    legacy: bool
    """Made by Chaat 1.0 (it has tables but no schema_migration yet)."""


def load(folder: Traversable | None = None) -> list[Migration]:
    """The migrations in folder (the packaged migrations/ by default), numbered 1..N."""
    folder = folder or resources.files("chaat.migrations")
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"{entry.name}: a migration is named NNNN_what_it_does.sql")
        found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"{migration.name}: expected migration number {expected:04}")
    return found


async def status(conn: asyncpg.Connection, migrations: Iterable[Migration] | None = None) -> Status:
    """Which version the database is at, and which migrations it lacks."""
    known = list(migrations if migrations is not None else load())
    has_table = await conn.fetchval("SELECT to_regclass('schema_migration') IS NOT NULL")
    version = await conn.fetchval("SELECT max(version) FROM schema_migration") if has_table else 0
    version = version or 0
    legacy = not has_table and await conn.fetchval("SELECT to_regclass('app_user') IS NOT NULL")
    if version > len(known):
        raise MigrationError(
            f"the database is at schema version {version}, newer than this Chaat knows"
            f" ({len(known)}): run a newer Chaat"
        )
    return Status(version=version, pending=known[version:], legacy=bool(legacy))


async def upgrade(
    conn: asyncpg.Connection, migrations: Iterable[Migration] | None = None
) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; the ones applied."""
    known = list(migrations if migrations is not None else load())
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK)
    try:
        await conn.execute(CREATE_TABLE)
        # Read under the lock: whoever held it before us may just have applied some.
        pending = (await status(conn, known)).pending
        for migration in pending:
            await _apply(conn, migration)
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK)


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migration (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(
            f"migration {migration.name} failed: {exc.__class__.__name__}: {exc}; the database"
            f" stays at schema version {migration.version - 1}"
        ) from exc
    log.info("applied migration %s", migration.name)
