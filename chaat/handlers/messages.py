"""/v1/chats/{chat_id}/messages, /v1/users/{user}/messages and read markers."""

from __future__ import annotations

from typing import Annotated

import pydantic
from aiohttp import web
from pydantic_core import PydanticCustomError

from chaat import errors, keys, messages, responses
from chaat.validation import (
    MAX_ID,
    Body,
    NoBody,
    Query,
    Storable,
    Text,
    WholeNumber,
    is_blank,
    parse_body,
    parse_query,
    path_emoji,
    path_id,
)


def _message_body(text: str) -> str:
    if is_blank(text):
        raise PydanticCustomError("empty_body", "must not be empty or only white space")
    if len(text) > 4000:
        raise PydanticCustomError("body_too_long", "must be at most 4000 characters")
    return text


MessageBody = Annotated[Text, pydantic.AfterValidator(_message_body)]
ClientId = Annotated[str, pydantic.Field(max_length=64), Storable]
# A bigint: anything larger is out of range (422), not a database error (500).
Seq = Annotated[WholeNumber, pydantic.Field(ge=0, le=MAX_ID)]


class SendMessage(Body):
    body: MessageBody
    client_id: ClientId | None = None


class SendInChat(SendMessage):
    reply_to: Annotated[WholeNumber, pydantic.Field(ge=1, le=MAX_ID)] | None = None


class EditMessage(Body):
    body: MessageBody


class History(Query):
    limit: Annotated[int, pydantic.Field(ge=1, le=200)] = 50
    before: Seq | None = None
    after: Seq | None = None


def _has_a_word(q: str) -> str:
    if not any(ch.isalnum() for ch in q):
        raise PydanticCustomError("no_word", "must hold a word: a run of letters and digits")
    return q


class Search(Query):
    q: Annotated[
        Text, pydantic.Field(min_length=1, max_length=200), pydantic.AfterValidator(_has_a_word)
    ]
    chat: Annotated[int, pydantic.Field(ge=1, le=MAX_ID)] | None = None
    before: Seq | None = None
    """A message id: matches older than it."""
    limit: Annotated[int, pydantic.Field(ge=1, le=100)] = 20


class MarkRead(Body):
    seq: Seq


async def send(request: web.Request) -> web.Response:
    me, limiter = request[keys.current_user], request.app[keys.limiter]
    try:
        payload = parse_body(request, SendInChat)
        chat_id = path_id(request, "chat_id")
    except errors.ChaatError:
        # The send itself spends the rate limit (limits.SPENT_BY_THE_HANDLER); a refused
        # request spends it here, where 429 still ranks before its own errors.
        await limiter.spend("message", me.id)
        raise
    message, created = await request.app[keys.sends].send(
        me,
        chat_id=chat_id,
        body=payload.body,
        client_id=payload.client_id,
        reply_to=payload.reply_to,
    )
    return responses.one(message, status=201 if created else 200)


async def get_message(request: web.Request) -> web.Response:
    message = await messages.get(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        seq=path_id(request, "seq"),
    )
    return responses.one(message)


async def edit(request: web.Request) -> web.Response:
    payload = parse_body(request, EditMessage)
    message = await messages.edit(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        seq=path_id(request, "seq"),
        body=payload.body,
    )
    return responses.one(message)


async def delete(request: web.Request) -> web.Response:
    await messages.delete(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        seq=path_id(request, "seq"),
    )
    return web.Response(status=204)


async def typing(request: web.Request) -> web.Response:
    parse_body(request, NoBody)
    await messages.typing(
        request.app[keys.pool],
        request[keys.current_user],
        request.app[keys.hub],
        request.app[keys.typing_notices],
        chat_id=path_id(request, "chat_id"),
    )
    return web.Response(status=204)


async def add_reaction(request: web.Request) -> web.Response:
    parse_body(request, NoBody)
    return await _react(request, add=True)


async def remove_reaction(request: web.Request) -> web.Response:
    return await _react(request, add=False)


async def _react(request: web.Request, *, add: bool) -> web.Response:
    emoji = path_emoji(request)  # a rule of the request alone: before 404
    message = await messages.react(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        seq=path_id(request, "seq"),
        emoji=emoji,
        add=add,
    )
    return responses.one(message)


async def send_to_user(request: web.Request) -> web.Response:
    payload = parse_body(request, SendMessage)
    message, created = await messages.send_to_user(
        request.app[keys.pool],
        request[keys.current_user],
        user=request.match_info["user"],
        body=payload.body,
        client_id=payload.client_id,
    )
    return responses.one(message, status=201 if created else 200)


async def history(request: web.Request) -> web.Response:
    query = parse_query(request, History)
    if query.before is not None and query.after is not None:
        raise errors.ValidationError(
            "Give before or after, not both.",
            [
                {"field": name, "problem": "give before or after, not both"}
                for name in ("before", "after")
            ],
        )
    items, has_more = await messages.history(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        limit=query.limit,
        before=query.before,
        after=query.after,
    )
    return responses.items(items, has_more=has_more)


async def search(request: web.Request) -> web.Response:
    query = parse_query(request, Search)
    items, has_more = await messages.search(
        request.app[keys.pool],
        request[keys.current_user],
        q=query.q,
        chat_id=query.chat,
        before=query.before,
        limit=query.limit,
    )
    return responses.items(items, has_more=has_more)


async def mark_read(request: web.Request) -> web.Response:
    payload = parse_body(request, MarkRead)
    await messages.mark_read(
        request.app[keys.pool],
        request[keys.current_user],
        chat_id=path_id(request, "chat_id"),
        seq=payload.seq,
    )
    return web.Response(status=204)
