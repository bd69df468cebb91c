"""/v1/friend-requests and /v1/friends."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from chaat import friends, keys
from chaat.validation import Body, Query, UserRef, parse_body, parse_query, path_id


class SendRequest(Body):
    to: UserRef


class Respond(Body):
    status: Literal["accepted", "rejected"]


class ListRequests(Query):
    status: Literal["pending", "accepted", "rejected"] | None = None
    direction: Literal["incoming", "outgoing", "all"] = "all"


async def list_requests(request: web.Request) -> web.Response:
    query = parse_query(request, ListRequests)
    items = await friends.list_requests(
        request.app[keys.pool],
        request[keys.current_user],
        status=query.status,
        direction=query.direction,
    )
    return web.json_response({"items": items})


async def send_request(request: web.Request) -> web.Response:
    payload = parse_body(request, SendRequest)
    friend_request, created = await friends.send_request(
        request.app[keys.pool], request[keys.current_user], to=payload.to
    )
    return web.json_response(friend_request, status=201 if created else 200)


async def respond(request: web.Request) -> web.Response:
    payload = parse_body(request, Respond)
    friend_request = await friends.respond(
        request.app[keys.pool],
        request[keys.current_user],
        request_id=path_id(request, "request_id"),
        status=payload.status,
    )
    return web.json_response(friend_request)


async def withdraw(request: web.Request) -> web.Response:
    await friends.withdraw(
        request.app[keys.pool],
        request[keys.current_user],
        request_id=path_id(request, "request_id"),
    )
    return web.Response(status=204)


async def list_friends(request: web.Request) -> web.Response:
    items = await friends.list_friends(request.app[keys.pool], request[keys.current_user])
    return web.json_response({"items": items})


async def unfriend(request: web.Request) -> web.Response:
    await friends.unfriend(
        request.app[keys.pool], request[keys.current_user], user_id=path_id(request, "user_id")
    )
    return web.Response(status=204)
