"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from chaat import db, keys, messages, middlewares, migrate
from chaat.hub import DELIVERY_CONNECTIONS, GOING_AWAY, Hub
from chaat.limits import Limiter, Throttle
from chaat.routes import routes
from chaat.security import CheckedTokens, Passwords, Tokens
from chaat.settings import Settings
from chaat.siblings import Siblings

MAX_BODY = 64 * 1024

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, siblings: Siblings | None = None) -> web.Application:
    """The Chaat API for settings.database_url, which must be set (see chaat.__main__);
    siblings: this worker's end of the others' (chaat.server.run_workers)."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            middlewares.handle_errors,
            middlewares.match_route,
            middlewares.read_json_body,
            middlewares.authenticate,
            middlewares.limit_rate,
        ],
    )
    app[keys.settings] = settings
    app[keys.siblings] = siblings or Siblings()
    app[keys.passwords] = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        processes=settings.workers,
    )
    app[keys.tokens] = Tokens(settings.secret_key, ttl=settings.token_ttl)
    app[keys.checked_tokens] = CheckedTokens()
    app[keys.typing_notices] = Throttle(messages.TYPING_INTERVAL)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_limits)
    app.cleanup_ctx.append(_events)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_stop_hashing)
    app.add_routes(routes)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings]
    assert settings.database_url, "create_app needs a database_url"
    pool = await db.create_pool(settings.database_url, size=settings.pool_size)
    async with pool.acquire() as conn:
        await migrate.upgrade(conn)
    app[keys.pool] = pool
    yield
    await db.close_pool(pool)


async def _limits(app: web.Application) -> AsyncIterator[None]:
    app[keys.limiter] = Limiter(app[keys.pool], app[keys.settings].rate_limits)
    app[keys.sends] = messages.Sends(
        app[keys.pool], app[keys.limiter], workers=app[keys.settings].workers
    )
    pruning = asyncio.create_task(app[keys.limiter].prune_forever())
    yield
    pruning.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pruning


async def _events(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.settings]
    assert settings.database_url
    delivery_pool = await db.create_pool(
        settings.database_url, size=DELIVERY_CONNECTIONS, name="chaat delivery"
    )
    hub = Hub(
        app[keys.pool],
        settings.database_url,
        delivery_pool=delivery_pool,
        retention=settings.event_retention,
        revocations=app[keys.checked_tokens],
        redis_url=settings.redis_url,
        siblings=app[keys.siblings],
    )
    await hub.start()
    app[keys.hub] = hub
    yield
    await hub.stop()
    await db.close_pool(delivery_pool)


async def _stop_hashing(app: web.Application) -> None:
    app[keys.passwords].close()


async def _close_streams(app: web.Application) -> None:
    """Shutting down: every open stream closes with 1001 and its client resumes elsewhere."""
    app[keys.hub].kick_all(GOING_AWAY, "server shutting down")
