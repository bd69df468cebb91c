"""/v1/users and /v1/tokens."""

from __future__ import annotations

from typing import Annotated

import pydantic
from aiohttp import web

from chaat import auth, db, invites, keys, users
from chaat.validation import (
    MAX_ID,
    Body,
    Query,
    Storable,
    Text,
    Username,
    WholeNumber,
    parse_body,
    parse_query,
)

Password = Annotated[str, pydantic.Field(min_length=8, max_length=256), Storable]
DisplayName = Annotated[str, pydantic.Field(max_length=64), Storable]


class SignUp(Body):
    username: Username
    password: Password
    display_name: DisplayName | None = None
    invite: Annotated[str, pydantic.Field(max_length=256), Storable] | None = None
    """Needed when CHAAT_REGISTRATION=invite; ignored otherwise."""


class NewInvite(Body):
    uses: Annotated[WholeNumber, pydantic.Field(ge=1, le=invites.MOST_USES)] = invites.USES
    expires_in: Annotated[WholeNumber, pydantic.Field(ge=1, le=invites.LONGEST_EXPIRES_IN)] = (
        invites.EXPIRES_IN
    )


class LogIn(Body):
    # Any string: a malformed name is just a wrong one, with the same 401.
    username: Text
    password: Text


class ChangePassword(Body):
    old_password: Annotated[str, pydantic.Field(max_length=256), Storable]
    new_password: Password


class ListUsers(Query):
    q: Annotated[str, pydantic.Field(max_length=32), Storable] = ""
    after: Annotated[int, pydantic.Field(ge=0, le=MAX_ID)] = 0
    limit: Annotated[int, pydantic.Field(ge=1, le=200)] = 50


async def sign_up(request: web.Request) -> web.Response:
    payload = parse_body(request, SignUp)
    user = await users.sign_up(
        request.app[keys.pool],
        request.app[keys.passwords],
        username=payload.username,
        password=payload.password,
        display_name=payload.display_name,
        registration=request.app[keys.settings].registration,
        invite=payload.invite,
    )
    return web.json_response(user, status=201)


async def create_invite(request: web.Request) -> web.Response:
    payload = parse_body(request, NewInvite)
    invite = await invites.create_as(
        request.app[keys.pool],
        request[keys.current_user],
        uses=payload.uses,
        expires_in=payload.expires_in,
    )
    return web.json_response(invite, status=201)


async def log_in(request: web.Request) -> web.Response:
    payload = parse_body(request, LogIn)
    session = await users.log_in(
        request.app[keys.pool],
        request.app[keys.passwords],
        request.app[keys.tokens],
        request.app[keys.limiter],
        username=payload.username,
        password=payload.password,
        address=auth.client_address(request),
        ttl=request.app[keys.settings].token_ttl,
    )
    return web.json_response(session, status=201)


async def log_out(request: web.Request) -> web.Response:
    await users.revoke_token(request.app[keys.pool], request[keys.current_user])
    return web.Response(status=204)


async def log_out_everywhere(request: web.Request) -> web.Response:
    await users.revoke_all_tokens(request.app[keys.pool], request[keys.current_user])
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    return web.json_response(request[keys.current_user].json)


async def change_password(request: web.Request) -> web.Response:
    payload = parse_body(request, ChangePassword)
    await users.change_password(
        request.app[keys.pool],
        request.app[keys.passwords],
        request[keys.current_user],
        old_password=payload.old_password,
        new_password=payload.new_password,
    )
    return web.Response(status=204)


async def list_users(request: web.Request) -> web.Response:
    query = parse_query(request, ListUsers)
    items, has_more = await users.list_users(
        request.app[keys.pool], prefix=query.q, after=query.after, limit=query.limit
    )
    return web.json_response({"items": items, "has_more": has_more})


async def get_user(request: web.Request) -> web.Response:
    async with db.connection(request.app[keys.pool]) as conn:
        user = await users.find(conn, request.match_info["user"])
    return web.json_response(user["json"])
