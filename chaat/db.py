"""The database: connection pool, query loading and driver-error translation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from importlib import resources
from typing import Any, NewType

import aiosql
import asyncpg
from aiosql.adapters.asyncpg import AsyncPGAdapter

from chaat import errors

log = logging.getLogger(__name__)

QUERIES = resources.files("chaat.queries")


class _Adapter(AsyncPGAdapter):
    """aiosql's asyncpg adapter, given a connection every time (Chaat never passes a
    pool). aiosql's own asks whether it was given a pool with `"acquire" in dir(conn)`
    before every query: py-spy put that near 6% of the server's CPU during sends."""

    def _args(self, name: str, params: Any) -> list[Any]:
        return self.maybe_order_params(name, params)  # type: ignore[no-untyped-call,no-any-return]

    async def select(
        self, conn: asyncpg.Connection, name: str, sql: str, params: Any, record_class: Any = None
    ) -> AsyncIterator[asyncpg.Record]:
        for row in await conn.fetch(sql, *self._args(name, params)):
            yield row

    async def select_one(
        self, conn: asyncpg.Connection, name: str, sql: str, params: Any, record_class: Any = None
    ) -> asyncpg.Record | None:
        return await conn.fetchrow(sql, *self._args(name, params))

    async def select_value(self, conn: asyncpg.Connection, name: str, sql: str, params: Any) -> Any:
        return await conn.fetchval(sql, *self._args(name, params))

    async def insert_update_delete(
        self, conn: asyncpg.Connection, name: str, sql: str, params: Any
    ) -> str:
        return await conn.execute(sql, *self._args(name, params))  # type: ignore[no-any-return]


# pip installs a wheel as files, so the folder is a real one that aiosql can read.
queries: Any = aiosql.from_path(str(QUERIES), _Adapter)  # type: ignore[arg-type]
"""Every file in queries/, as queries.<table>.<name>(conn, **params)."""

STATEMENT_TIMEOUT = 15.0
"""Seconds any statement of a request may take (asyncpg's command_timeout)."""

ACQUIRE_TIMEOUT = 10.0
"""Seconds a request waits for a free pool connection before answering 503."""

JsonText = NewType("JsonText", str)
"""An API object as JSON text, built by PostgreSQL: the long lists pass it straight
to the response (chaat.responses) instead of decoding and encoding it again."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json columns (the API objects the schema's functions build) come back as Python objects.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind, schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
        )


class _PoolConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pool connection released without asyncpg's reset query (a round trip on every
    release). Chaat leaves no session state on pool connections: no LISTEN, no session
    settings, advisory locks only for a transaction (migrations unlock theirs); an open
    transaction is still rolled back."""

    def get_reset_query(self) -> str:
        return ""


async def create_pool(dsn: str, *, size: int, name: str = "chaat") -> asyncpg.Pool:
    """Open a pool whose connections speak UTC and decode jsonb; name is their
    application_name (pg_stat_activity shows it)."""
    pool = await asyncpg.create_pool(
        dsn,
        connection_class=_PoolConnection,
        min_size=1,
        max_size=size,
        init=_init_connection,
        server_settings={
            "timezone": "UTC",
            "application_name": name,
            # Plan each prepared statement once. By default PostgreSQL plans it again
            # on every execution whenever the generic plan's estimate looks costlier,
            # as it does for a `LIMIT $n`: a history page spent more than half its
            # database time planning, inlining message_json() again and again. Every
            # query here is an index lookup whatever its parameters; search, whose
            # best plan depends on them, runs as dynamic SQL, planned each time.
            "plan_cache_mode": "force_generic_plan",
        },
        # A statement that takes longer is cancelled and its request answers 503: a
        # database that stops answering (frozen, cut off) costs a bounded wait.
        command_timeout=STATEMENT_TIMEOUT,
    )
    assert pool is not None
    return pool


async def close_pool(pool: asyncpg.Pool) -> None:
    """Close the pool once its connections are back, or within 10 s regardless."""
    try:
        async with asyncio.timeout(10):
            await pool.close()
    except TimeoutError:
        log.warning("database connections still busy after 10 s; closing them anyway")
        pool.terminate()


_on_commit: dict[int, list[Callable[[], None]]] = {}
"""Per connection (by id) in a connection() block: what to run once its work commits."""


def on_commit(conn: asyncpg.Connection, callback: Callable[[], None]) -> None:
    """Run callback when the connection() block using conn ends without an error, that is
    once what it did has committed (its transaction, or its statements one by one)."""
    callbacks = _on_commit.setdefault(id(conn), [])
    if callback not in callbacks:
        callbacks.append(callback)


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Acquire a connection for the block; what goes wrong in it becomes an API error
    (see translate_db_errors), for HTTP requests, `chaat admin` and the event hub alike."""
    with translate_db_errors():
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
            try:
                yield conn
            except BaseException:
                _on_commit.pop(id(conn), None)
                raise
            for callback in _on_commit.pop(id(conn), ()):
                callback()


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """connection(), with the block in one transaction."""
    async with connection(pool) as conn, conn.transaction():
        yield conn


# Constraint name -> the API error a violation of it means. Python checks
# these rules first; this catches the races that slip between check and write.
CONSTRAINT_ERRORS: dict[str, type[errors.ChaatError]] = {
    "app_user_username_key": errors.UsernameTaken,
    "friend_request_one_pending": errors.RequestPending,
    "chat_participant_pkey": errors.AlreadyParticipant,
    "message_client_id_once": errors.ClientIdConflict,
}


FAILURES: tuple[type[Exception], ...] = (
    OSError,
    errors.Unavailable,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. the server died in the middle of LISTEN
    TimeoutError,
)
"""The expected failures of background work: the database went away (connection()
says so with errors.Unavailable) or refused a statement."""


def log_failure(
    what: str, exc: Exception, expected: tuple[type[Exception], ...] = FAILURES
) -> None:
    """One line when an expected failure (a service went away) stopped background work; a
    traceback for anything else (a bug). Either way the loop that failed carries on."""
    if isinstance(exc, expected):
        log.warning("%s failed (%s: %s); retrying", what, exc.__class__.__name__, exc)
    else:
        log.error("%s failed; retrying", what, exc_info=exc)


@contextlib.contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn a constraint violation into its API error and a lost database into 503."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        error = CONSTRAINT_ERRORS.get(getattr(exc, "constraint_name", None) or "")
        if error is None:
            raise
        raise error() from exc
    except (
        OSError,
        TimeoutError,
        asyncpg.PostgresConnectionError,  # class 08: the connection broke
        asyncpg.InterfaceError,  # e.g. the connection closed in the middle of a query
        asyncpg.InternalClientError,  # e.g. the server vanished while a query was sent
        asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up
        asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    ) as exc:
        log.warning("database unavailable: %s", exc.__class__.__name__)
        raise errors.Unavailable() from exc
