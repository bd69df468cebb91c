"""Who is calling: a bearer token, checked against its database row (and remembered for a
while, see security.CheckedTokens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from chaat import db, errors, keys, limits, store


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request, and the token they used."""

    id: int
    username: str
    is_admin: bool
    token_id: int
    expires_at: datetime
    json: dict[str, Any]


def client_address(request: web.Request) -> str:
    """Where the caller is (chaat.limits.client_address), worked out once per request."""
    address = request.get(keys.client_address)
    if address is None:
        trusted = request.app[keys.settings].trusted_proxies
        address = request[keys.client_address] = limits.client_address(request, trusted)
    return address


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if it has that shape."""
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(app: web.Application, token: str | None) -> Caller:
    """The caller behind a token; one answer (401) for missing, forged, expired and revoked."""
    if not token:
        raise errors.Unauthorized()
    checked = app[keys.checked_tokens]
    caller = checked.get(token)
    if caller is not None:
        return caller
    token_id = app[keys.tokens].unsign(token)
    if token_id is None:
        raise errors.Unauthorized()
    ticket = checked.ticket()
    async with db.connection(app[keys.pool]) as conn:
        row = await store.tokens.get_user(conn, token_id=token_id)
    if row is None:
        raise errors.Unauthorized()
    caller = Caller(
        id=row["id"],
        username=row["username"],
        is_admin=row["is_admin"],
        token_id=token_id,
        expires_at=row["expires_at"],
        json=row["json"],
    )
    checked.put(token, caller, user_id=caller.id, expires_at=caller.expires_at, ticket=ticket)
    return caller
