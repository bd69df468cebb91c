"""/v1/blocks."""

from __future__ import annotations

from aiohttp import web

from chaat import blocks, keys
from chaat.validation import NoBody, parse_body


async def block(request: web.Request) -> web.Response:
    parse_body(request, NoBody)
    await blocks.block(
        request.app[keys.pool], request[keys.current_user], user=request.match_info["user"]
    )
    return web.Response(status=204)


async def unblock(request: web.Request) -> web.Response:
    await blocks.unblock(
        request.app[keys.pool], request[keys.current_user], user=request.match_info["user"]
    )
    return web.Response(status=204)


async def list_blocks(request: web.Request) -> web.Response:
    items = await blocks.list_blocks(request.app[keys.pool], request[keys.current_user])
    return web.json_response({"items": items})
