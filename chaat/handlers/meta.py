"""/v1/health and /v1/openapi.json."""

from __future__ import annotations

import asyncio
import json
from importlib import resources

from aiohttp import web

from chaat import keys

OPENAPI = resources.files("chaat") / "openapi.json"


async def health(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(2):
            async with request.app[keys.pool].acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception:  # any failure to answer means unavailable, by definition
        return unavailable("the database does not answer")
    problem = request.app[keys.hub].problem()
    if problem is not None:
        return unavailable(problem)
    return web.json_response({"status": "ok"})


def unavailable(reason: str) -> web.Response:
    return web.json_response({"status": "unavailable", "reason": reason}, status=503)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(json.loads(OPENAPI.read_text()))
