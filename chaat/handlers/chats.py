"""/v1/chats and their participants."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from aiohttp import web

from chaat import chats, keys, responses
from chaat.handlers.messages import ClientId, MessageBody
from chaat.validation import Body, Query, Storable, UserRef, parse_body, parse_query, path_id

GroupName = Annotated[str, pydantic.Field(min_length=1, max_length=64), Storable]


class ListChats(Query):
    with_: Annotated[str | None, pydantic.Field(alias="with", max_length=64)] = None
    all: bool = False


class CreateChat(Body):
    participants: Annotated[list[UserRef], pydantic.Field(max_length=1000)]
    name: GroupName | None = None
    kind: Literal["direct", "group"] | None = None
    message: MessageBody | None = None
    client_id: ClientId | None = None


class Rename(Body):
    name: GroupName | None
    """Required; null takes the group's name away."""


class AddParticipant(Body):
    user: UserRef


async def list_chats(request: web.Request) -> web.Response:
    query = parse_query(request, ListChats)
    items = await chats.list_chats(
        request.app[keys.pool], request[keys.current_user], with_user=query.with_, every=query.all
    )
    return responses.items(items)


async def create_chat(request: web.Request) -> web.Response:
    payload = parse_body(request, CreateChat)
    chat, created = await chats.create_chat(
        request.app[keys.pool],
        request[keys.current_user],
        participants=payload.participants,
        name=payload.name,
        kind=payload.kind,
        message=payload.message,
        client_id=payload.client_id,
        max_size=request.app[keys.settings].max_group_size,
    )
    return web.json_response(chat, status=201 if created else 200)


async def get_chat(request: web.Request) -> web.Response:
    chat = await chats.get_chat(
        request.app[keys.pool], request[keys.current_user], chat_id=path_id(request, "chat_id")
    )
    return web.json_response(chat)


async def rename(request: web.Request) -> web.Response:
    payload = parse_body(request, Rename)
    chat = await chats.rename(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        name=payload.name,
    )
    return web.json_response(chat)


async def list_participants(request: web.Request) -> web.Response:
    items = await chats.list_participants(
        request.app[keys.pool], request[keys.current_user], chat_id=path_id(request, "chat_id")
    )
    return web.json_response({"items": items})


async def add_participant(request: web.Request) -> web.Response:
    payload = parse_body(request, AddParticipant)
    chat = await chats.add_participant(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        user=payload.user,
        max_size=request.app[keys.settings].max_group_size,
    )
    return web.json_response(chat, status=201)


async def remove_participant(request: web.Request) -> web.Response:
    await chats.remove_participant(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        user_id=path_id(request, "user_id"),
    )
    return web.Response(status=204)
