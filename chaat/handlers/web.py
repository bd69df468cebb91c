"""The web client: its page at / and its files under /static/, with a strict CSP.

The files are the package's chaat/web folder, read once into memory. Only the names
found there are served (a fixed allow-list), so no request path ever reaches the
file system. The client itself talks to the server through the public API only.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

from chaat import errors

WEB = resources.files("chaat") / "web"

CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
"""What is served, by suffix; any other file in chaat/web is not."""

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # CSP 3: 'self' also allows ws:/wss: to this host and port
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",  # forms are handled by the script, never submitted
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # No hashed file names (no build step): browsers keep a copy but ask each time,
    # and a 304 answers when it is still current.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found |= _walk(entry, name + "/")
            continue
        content_type = CONTENT_TYPES.get("." + entry.name.rpartition(".")[2])
        if content_type is None or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        found[name] = Asset(body, content_type, etag)
    return found


@functools.cache
def assets() -> dict[str, Asset]:
    """Every servable file of chaat/web by its path there, e.g. "js/main.js"."""
    return _walk(WEB) if WEB.is_dir() else {}


def _serve(request: web.Request, name: str) -> web.Response:
    asset = assets().get(name)
    if asset is None:
        raise errors.NotFound(f"No such path: {request.path}")
    headers = {**HEADERS, "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith("text/") else None
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset=charset, headers=headers
    )


async def index(request: web.Request) -> web.Response:
    """The page: the whole client starts from it."""
    return _serve(request, "index.html")


async def static(request: web.Request) -> web.Response:
    """One of the client's files, by its path in chaat/web."""
    return _serve(request, request.match_info["path"])
