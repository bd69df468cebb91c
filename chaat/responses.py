"""Responses whose items are JSON text already (see chaat.db.JsonText)."""

from __future__ import annotations

from aiohttp import web

from chaat.db import JsonText


def one(text: JsonText, *, status: int = 200) -> web.Response:
    """One API object, as the JSON text it already is."""
    return web.Response(text=text, status=status, content_type="application/json")


def items(texts: list[JsonText], *, has_more: bool | None = None) -> web.Response:
    """{"items": [...]} (and "has_more" when given), the items spliced in as they are."""
    body = '{"items":[' + ",".join(texts) + "]"
    if has_more is not None:
        body += ',"has_more":' + ("true" if has_more else "false")
    return web.Response(text=body + "}", content_type="application/json")
