"""The request pipeline: errors -> JSON envelope, routing errors, body parsing, authentication."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from chaat import auth, errors, keys, limits

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_QUERY = 2048
"""Characters a query string may have (a search, its filters and cursor need far fewer)."""

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""What an X-Request-Id may be to be used as the request's id in the logs."""

PUBLIC = frozenset(
    {
        ("POST", "/v1/users"),
        ("POST", "/v1/tokens"),
        ("GET", "/v1/health"),
        ("GET", "/v1/openapi.json"),
    }
)
"""The only API requests that need no token (paths outside /v1/, the web client's
files, need none either)."""

TAKE_NO_BODY = frozenset(
    {
        ("PUT", "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"),
        ("PUT", "/v1/blocks/{user}"),
        ("POST", "/v1/chats/{chat_id}/typing"),
    }
)
"""Operations with no body in the contract, that a client may send with none at all."""


def error_response(error: errors.ChaatError) -> web.Response:
    """The one place an error becomes a response."""
    response = web.json_response(error.body(), status=error.status)
    if isinstance(error, errors.Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, errors.RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, errors.MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.allowed)
    return response


# aiohttp's own HTTP errors (unknown path, wrong method, body too large), in our envelope.
_HTTP_ERRORS: dict[int, type[errors.ChaatError]] = {
    404: errors.NotFound,
    413: errors.PayloadTooLarge,
}


@web.middleware
async def handle_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure as {"error": {...}}; log the unexpected ones with a request id."""
    given = request.headers.get("X-Request-Id", "")
    request[keys.request_id] = given if REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
    resource = request.match_info.route.resource
    request[keys.route] = "-" if resource is None else resource.canonical
    try:
        return await handler(request)
    except errors.RequestTimeout as exc:
        response = error_response(exc)
        response.force_close()  # what is left of the body may still be on its way
        return response
    except errors.ChaatError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _HTTP_ERRORS.get(exc.status)
        if error is not None:
            return error_response(error())
        return web.json_response(
            {"error": {"code": exc.reason.lower().replace(" ", "_"), "message": exc.reason}},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k == "Allow"},
        )
    except Exception:
        log.exception(
            "unexpected error in %s %s [request %s]",
            request.method,
            request.path,
            request[keys.request_id],
        )
        return error_response(errors.InternalError())


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _bounded_int(text: str) -> int:
    # Python refuses to convert integers of thousands of digits; no field takes
    # one anyway, so keep the sign and let the field's own rule refuse it (422).
    return int(text) if len(text) <= 40 else (-1 if text.startswith("-") else 1) * 10**40


@web.middleware
async def match_route(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unknown path is 404 and a wrong method 405, before the body or the token is read."""
    match_info = request.match_info
    if isinstance(match_info.http_exception, web.HTTPMethodNotAllowed):
        allowed = sorted(match_info.http_exception.allowed_methods)
        raise errors.MethodNotAllowed(
            f"{request.method} is not allowed here; this path takes {', '.join(allowed)}.",
            allowed=allowed,
        )
    if match_info.http_exception is not None:
        raise errors.NotFound(f"No such path: {request.path}")
    if len(request.query_string) > MAX_QUERY:
        raise errors.ValidationError(
            f"The query string is longer than {MAX_QUERY} characters.",
            [{"field": "query", "problem": f"longer than {MAX_QUERY} characters"}],
        )
    return await handler(request)


@web.middleware
async def read_json_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Parse the JSON object of POST, PUT and PATCH before anything else looks at the request.

    The contract ranks 400 and 413 before 401, so this runs before authentication.
    """
    if request.method in ("POST", "PUT", "PATCH"):
        timeout = request.app[keys.settings].body_timeout
        # A body that came with the head (most do) is read at once: no timer to set.
        deadline = None if request.content.is_eof() else timeout
        try:
            async with asyncio.timeout(deadline):
                raw = await request.read()  # aiohttp answers 413 past client_max_size
        except TimeoutError:
            raise errors.RequestTimeout(
                f"The request body took more than {timeout} s to arrive."
            ) from None
        if not raw and _route(request) in TAKE_NO_BODY:
            raw = b"{}"  # the handler refuses anything but {} (validation.NoBody)
        try:
            body = json.loads(
                raw.decode("utf-8"), parse_constant=_reject_constant, parse_int=_bounded_int
            )
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise errors.InvalidJson("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise errors.InvalidJson("The request body must be a JSON object.")
        request[keys.body] = body
    return await handler(request)


def _route(request: web.Request) -> tuple[str, str | None]:
    resource = request.match_info.route.resource
    return request.method, None if resource is None else resource.canonical


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the caller in request[current_user]; every path but the public ones needs one."""
    method = "GET" if request.method == "HEAD" else request.method  # HEAD is a GET's head
    path = request.path
    if path.startswith("/v1/") and (method, path) not in PUBLIC and path != "/v1/events":
        token = auth.bearer_token(request.headers.get("Authorization"))
        request[keys.current_user] = await auth.authenticate(request.app, token)
    return await handler(request)


@web.middleware
async def limit_rate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Spend the request's rate limit (limits.ROUTES), if it has one: per user, or per
    client address for those made before logging in."""
    route = _route(request)
    name = limits.ROUTES.get(route)  # type: ignore[arg-type]
    if name is not None and route not in limits.SPENT_BY_THE_HANDLER:
        limit = limits.LIMITS[name]
        who = auth.client_address(request) if limit.per_address else request[keys.current_user].id
        await request.app[keys.limiter].spend(name, who)
    return await handler(request)
