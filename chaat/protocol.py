"""The HTTP server around the app: aiohttp's, with one access log line per request, its
own errors (malformed requests) in the API's envelope and logged without the bytes
that broke them, and bounded waits for slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.abc import AbstractAccessLogger

from chaat import auth, errors, keys

log = logging.getLogger("chaat.http")

SHUTDOWN_TIMEOUT = 30.0
"""Seconds in-flight requests have to finish once asked to stop."""

CLEANUP_TIMEOUT = 5.0
"""Seconds what is left running after the server stopped has to end."""


class AccessLog(AbstractAccessLogger):
    """One logfmt line per request: request id, method, route (never the query, whose
    text may be a search for someone's words), status, duration, user, address."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        caller = request.get(keys.current_user)
        address = request.remote
        # A request aiohttp could not parse never reached the app (nor has one).
        if isinstance(request, web.Request) and keys.route in request:
            address = auth.client_address(request)
        self.logger.info(
            "request=%s method=%s route=%s status=%d ms=%.1f user=%s address=%s",
            request.get(keys.request_id, "-"),
            request.method,
            request.get(keys.route, "-"),
            response.status,
            time * 1000,
            caller.id if caller is not None else "-",
            address,
        )


class _Connection(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse in our envelope."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp would log the offending line, which may well hold a token.
        log.warning(
            "malformed request from %s: %s (%s)",
            request.remote,
            HTTPStatus(status).phrase,
            exc.__class__.__name__ if exc else "-",
        )
        if request.writer.output_size > 0:
            raise ConnectionError("an answer is partly sent; cannot send an error after it")
        error: errors.ChaatError = {
            400: errors.BadRequest(),
            413: errors.PayloadTooLarge(),
        }.get(status, errors.InternalError())
        response = web.json_response(error.body(), status=status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp has no setting for the connection class; its Server makes them.
        server.__class__ = _Server
        return server


async def serve(app: web.Application, *, host: str, port: int, reuse_port: bool) -> None:
    """Serve app until cancelled (on SIGINT, SIGTERM or SIGHUP), then stop politely:
    on_shutdown closes streams with 1001, in-flight requests get SHUTDOWN_TIMEOUT."""
    runner = _Runner(
        app,
        access_log_class=AccessLog,
        # aiohttp's keep-alive timer runs from connecting, and from each answer, until a
        # whole request head is in: it bounds slow heads and idle connections alike.
        keepalive_timeout=app[keys.settings].head_timeout,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        log.info("Chaat listening on %s", site.name)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop, where it is installed (everywhere but Windows, see
    pyproject.toml), else asyncio's own, which took a third of the server's CPU under
    load (py-spy). bench/compare.py, 3 runs: 27% more sends a second on uvloop, and 19%
    more history pages."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(app: web.Application, **kwargs: Any) -> None:
    """serve() on a new event loop, until SIGINT, SIGTERM or SIGHUP."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(serve(app, **kwargs))
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, main.cancel)
    try:
        loop.run_until_complete(main)
    except asyncio.CancelledError:
        pass
    finally:
        # What a failed start left running (the hub's loops, say) ends here, quietly,
        # and within a bound: a process that failed must exit, for its parent to know.
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left, timeout=CLEANUP_TIMEOUT))
        with contextlib.suppress(TimeoutError):
            loop.run_until_complete(
                asyncio.wait_for(loop.shutdown_asyncgens(), timeout=CLEANUP_TIMEOUT)
            )
        loop.close()
