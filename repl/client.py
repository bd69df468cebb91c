"""The Chaat HTTP API as Python calls, one method per call the shell makes.

Error answers raise ApiError with the server's code and message; a server that
cannot be reached raises ServerUnreachable. The token lives in this object only:
nothing here writes to disk.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, TypedDict, cast
from urllib.parse import quote

import aiohttp


class User(TypedDict):
    id: int
    username: str
    display_name: str
    created_at: str


class Sender(TypedDict):
    id: int
    username: str


class Reaction(TypedDict):
    emoji: str
    user_ids: list[int]  # in the order they reacted


class Message(TypedDict):
    id: int
    chat_id: int
    seq: int
    sender: Sender
    body: str | None  # None once deleted: the message is a tombstone
    created_at: str
    client_id: str | None
    reply_to: int | None  # the seq it answers, in the same chat
    edited_at: str | None
    deleted_at: str | None
    reactions: list[Reaction]  # in the order each emoji was first used


class Chat(TypedDict):
    id: int
    kind: str
    name: str | None
    created_by: int
    created_at: str
    participants: list[User]
    last_message: Message | None
    unread_count: int


class Friend(TypedDict):
    user: User
    since: str


# "from" is a Python keyword, hence the functional form.
FriendRequest = TypedDict(
    "FriendRequest",
    {
        "id": int,
        "from": User,
        "to": User,
        "status": str,
        "created_at": str,
        "responded_at": str | None,
    },
)


class Participant(TypedDict):
    user: User
    joined_at: str
    last_read_seq: int


class Block(TypedDict):
    user: User
    since: str


class Session(TypedDict):
    token: str
    expires_at: str
    user: User


class Event(TypedDict, total=False):
    id: int
    type: str
    data: dict[str, Any]


class ApiError(Exception):
    """The server answered with an error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        super().__init__(self.describe())

    def describe(self) -> str:
        """The message in one line, naming the offending users or fields from details.

        A validation error reads as sentences made from its details ("The password
        must be at least 8 characters."), where the server's wording allows.
        """
        message = " ".join(self.message.split()) or f"The server answered {self.status}."
        if self.code == "not_friends":
            names = [str(d["value"]) for d in self.details if d.get("value") is not None]
            if names and not all(name in message for name in names):
                return f"{message} ({', '.join(names)})"
        elif self.code == "validation_error":  # the other 422 codes say it all
            problems = [d for d in self.details if d.get("problem")]
            sentences = [problem_sentence(d) for d in problems]
            if sentences and all(sentences):
                return " ".join(s for s in sentences if s)
            unsaid = [
                f"{d['field']}: {d['problem']}" if d.get("field") else str(d["problem"])
                for d in problems
                if d["problem"] != self.message
            ]
            if unsaid:
                return f"{message} ({'; '.join(unsaid)})"
        return message


FIELD_NAMES = {
    "body": "message",
    "name": "group name",
    "old_password": "current password",
    "q": "search",
    "reply_to": "message replied to",
    "to": "user",
}
"""What a request field is called in a sentence, where its name does not say it."""

_SHOULD = re.compile(r"(?:String|Input|Value|List) should (?:have|be) (.+)", re.DOTALL)


def problem_sentence(detail: dict[str, Any]) -> str | None:
    """One entry of a 422's details as a sentence; None when its wording is not known.

    The server passes on pydantic's wording ("String should have at least 8
    characters") or its own ("must be 3 to 32 characters of ..."); both become
    "The password must be at least 8 characters."
    """
    field, problem = str(detail.get("field") or ""), str(detail.get("problem") or "").strip()
    if not field or not problem:
        return None
    noun = FIELD_NAMES.get(field, field.replace("_", " "))
    if problem == "required":
        return f"The {noun} is missing."
    if problem == "unknown field":
        return f"The server does not know {field}: it may run an older version of Chaat."
    should = _SHOULD.fullmatch(problem)
    if should is not None:
        if should[1] in ("at least 1 character", "at least 1 item"):
            return f"The {noun} cannot be empty."
        problem = "must be " + should[1]
    if problem.startswith(("must ", "cannot ")):
        return f"The {noun} {problem.rstrip('.')}."
    return None


class ServerUnreachable(Exception):
    """The server could not be reached, or the connection broke before it answered."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"Cannot reach the server at {url} ({reason}).")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # asyncio's strerror reads "Connect call failed (...)"; the errno says it plainly.
        if exc.os_error.errno:
            return os.strerror(exc.os_error.errno).lower()
        return str(exc.os_error) or "cannot connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the connection was closed"
    if isinstance(exc, aiohttp.InvalidURL):
        return "not a valid URL"
    return str(exc) or type(exc).__name__


def _error_from(status: int, body: Any, reason: str | None) -> ApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        details = error.get("details")
        return ApiError(
            status,
            str(error.get("code", "error")),
            str(error.get("message", "")),
            details if isinstance(details, list) else None,
        )
    return ApiError(status, "error", f"The server answered {status} {reason or ''}".strip() + ".")


KEEPALIVE_SECONDS = 5.0
"""How long an idle connection to the server is kept for the next request."""


class Client:
    """One server, one logged-in user (or none); use with `async with`."""

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._session: aiohttp.ClientSession | None = None
        self._events_socket: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> Client:
        # Idle connections are dropped well before the server closes them (its
        # CHAAT_HEAD_TIMEOUT, 20 s by default): reusing one as it closes fails the request.
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the Client with `async with`")
        return self._session

    def _headers(self, token: str | None = None) -> dict[str, str]:
        token = token or self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Any:
        """The decoded answer (None for 204), or ApiError / ServerUnreachable.

        Sent with token, else with the session's own.
        """
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                json=body,
                params=params,
                headers=self._headers(token),
            ) as resp:
                if resp.status == 204:
                    return None
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = None
                if resp.status >= 400:
                    raise _error_from(resp.status, answer, resp.reason)
                return answer
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServerUnreachable(self.base_url, _reason(exc)) from None

    async def health(self) -> int:
        """The status GET /v1/health answers: 200 when the server and its database are up."""
        try:
            await self._call("GET", "/v1/health")
        except ApiError as exc:
            return exc.status
        return 200

    # Users and tokens

    async def register(self, username: str, password: str, *, invite: str | None = None) -> User:
        body = {"username": username, "password": password}
        if invite is not None:
            body["invite"] = invite
        return cast(User, await self._call("POST", "/v1/users", body=body))

    async def log_in(self, username: str, password: str) -> Session:
        """Log in and keep the token (in memory) for the calls that follow."""
        body = {"username": username, "password": password}
        session = cast(Session, await self._call("POST", "/v1/tokens", body=body))
        self.token = session["token"]
        return session

    async def revoke(self, token: str) -> None:
        """Revoke token (this session's or an earlier one) on the server; forget it here."""
        try:
            await self._call("DELETE", "/v1/tokens/current", token=token)
        finally:
            if self.token == token:
                self.token = None

    async def change_password(self, old: str, new: str) -> None:
        """Change the password; the server ends every other session of the user."""
        body = {"old_password": old, "new_password": new}
        await self._call("PUT", "/v1/users/me/password", body=body)

    async def get_user(self, user: str) -> User:
        return cast(User, await self._call("GET", f"/v1/users/{quote(user, safe='')}"))

    async def list_users(self, prefix: str = "", *, limit: int = 50) -> tuple[list[User], bool]:
        params = {"q": prefix, "limit": str(limit)}
        page = await self._call("GET", "/v1/users", params=params)
        return cast(list[User], page["items"]), bool(page["has_more"])

    # Friends

    async def list_friends(self) -> list[Friend]:
        return cast(list[Friend], (await self._call("GET", "/v1/friends"))["items"])

    async def list_requests(
        self, *, status: str | None = None, direction: str = "all"
    ) -> list[FriendRequest]:
        params = {"direction": direction}
        if status is not None:
            params["status"] = status
        answer = await self._call("GET", "/v1/friend-requests", params=params)
        return cast(list[FriendRequest], answer["items"])

    async def send_request(self, to: str) -> FriendRequest:
        """A pending request, or theirs to us, now accepted."""
        return cast(FriendRequest, await self._call("POST", "/v1/friend-requests", body={"to": to}))

    async def respond(self, request_id: int, status: str) -> FriendRequest:
        path = f"/v1/friend-requests/{request_id}"
        return cast(FriendRequest, await self._call("PATCH", path, body={"status": status}))

    async def unfriend(self, user_id: int) -> None:
        await self._call("DELETE", f"/v1/friends/{user_id}")

    async def list_blocks(self) -> list[Block]:
        return cast(list[Block], (await self._call("GET", "/v1/blocks"))["items"])

    async def block(self, user: str) -> None:
        await self._call("PUT", f"/v1/blocks/{quote(user, safe='')}")

    async def unblock(self, user: str) -> None:
        await self._call("DELETE", f"/v1/blocks/{quote(user, safe='')}")

    # Chats and messages

    async def list_chats(self) -> list[Chat]:
        return cast(list[Chat], (await self._call("GET", "/v1/chats"))["items"])

    async def get_chat(self, chat_id: int) -> Chat:
        return cast(Chat, await self._call("GET", f"/v1/chats/{chat_id}"))

    async def create_chat(
        self,
        participants: list[str],
        *,
        kind: str,
        name: str | None = None,
        message: str | None = None,
        client_id: str | None = None,
    ) -> Chat:
        """A new chat, or the existing direct chat (with message as its newest, if given)."""
        body: dict[str, Any] = {"participants": participants, "kind": kind}
        if name is not None:
            body["name"] = name
        if message is not None:
            body["message"] = message
            body["client_id"] = client_id
        return cast(Chat, await self._call("POST", "/v1/chats", body=body))

    async def rename_chat(self, chat_id: int, name: str | None) -> Chat:
        """Name a group, or take its name away with None."""
        return cast(Chat, await self._call("PATCH", f"/v1/chats/{chat_id}", body={"name": name}))

    async def list_participants(self, chat_id: int) -> list[Participant]:
        answer = await self._call("GET", f"/v1/chats/{chat_id}/participants")
        return cast(list[Participant], answer["items"])

    async def add_participant(self, chat_id: int, user: str) -> Chat:
        path = f"/v1/chats/{chat_id}/participants"
        return cast(Chat, await self._call("POST", path, body={"user": user}))

    async def remove_participant(self, chat_id: int, user_id: int) -> None:
        await self._call("DELETE", f"/v1/chats/{chat_id}/participants/{user_id}")

    async def send_message(
        self, chat_id: int, body: str, *, client_id: str, reply_to: int | None = None
    ) -> Message:
        """Send body; the same client_id again returns the stored message, not a second one."""
        payload: dict[str, Any] = {"body": body, "client_id": client_id}
        if reply_to is not None:
            payload["reply_to"] = reply_to
        path = f"/v1/chats/{chat_id}/messages"
        return cast(Message, await self._call("POST", path, body=payload))

    async def get_message(self, chat_id: int, seq: int) -> Message:
        return cast(Message, await self._call("GET", f"/v1/chats/{chat_id}/messages/{seq}"))

    async def edit_message(self, chat_id: int, seq: int, body: str) -> Message:
        path = f"/v1/chats/{chat_id}/messages/{seq}"
        return cast(Message, await self._call("PATCH", path, body={"body": body}))

    async def delete_message(self, chat_id: int, seq: int) -> None:
        await self._call("DELETE", f"/v1/chats/{chat_id}/messages/{seq}")

    async def react(self, chat_id: int, seq: int, emoji: str, *, add: bool = True) -> Message:
        """Add (or take back) the caller's reaction; the message as it is now."""
        path = f"/v1/chats/{chat_id}/messages/{seq}/reactions/{quote(emoji, safe='')}"
        return cast(Message, await self._call("PUT" if add else "DELETE", path))

    async def typing(self, chat_id: int) -> None:
        """Tell the chat's other participants that the caller is typing."""
        await self._call("POST", f"/v1/chats/{chat_id}/typing")

    async def search(
        self, words: str, *, chat_id: int | None = None, limit: int = 20
    ) -> tuple[list[Message], bool]:
        """Messages of the caller's chats matching every word, newest first; more beyond?"""
        params = {"q": words, "limit": str(limit)}
        if chat_id is not None:
            params["chat"] = str(chat_id)
        page = await self._call("GET", "/v1/messages", params=params)
        return cast(list[Message], page["items"]), bool(page["has_more"])

    async def send_direct(self, user: str, body: str, *, client_id: str) -> Message:
        payload = {"body": body, "client_id": client_id}
        path = f"/v1/users/{quote(user, safe='')}/messages"
        return cast(Message, await self._call("POST", path, body=payload))

    async def list_messages(
        self,
        chat_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> tuple[list[Message], bool]:
        """A page of messages, oldest first, and whether more lie beyond it."""
        params = {"limit": str(limit)}
        if before is not None:
            params["before"] = str(before)
        if after is not None:
            params["after"] = str(after)
        page = await self._call("GET", f"/v1/chats/{chat_id}/messages", params=params)
        return cast(list[Message], page["items"]), bool(page["has_more"])

    async def mark_read(self, chat_id: int, seq: int) -> None:
        await self._call("POST", f"/v1/chats/{chat_id}/read", body={"seq": seq})

    # Live events

    async def events(self, *, since: int | None = None) -> AsyncIterator[Event]:
        """The caller's events from GET /v1/events, until the server closes the socket.

        A refused upgrade raises ApiError (404 when the server has no events); a
        socket closed for a bad or revoked token (1008) raises ApiError 401.
        """
        params = {"since": str(since)} if since is not None else {}
        try:
            ws = await self.session.ws_connect(
                self.base_url + "/v1/events",
                headers=self._headers(),
                params=params,
                heartbeat=30.0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ApiError(
                exc.status,
                "not_found" if exc.status == 404 else "error",
                f"Live events answered {exc.status} {exc.message}".strip(),
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServerUnreachable(self.base_url, _reason(exc)) from None
        self._events_socket = ws
        async with ws:
            try:
                async for frame in ws:
                    if frame.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    try:
                        event = json.loads(frame.data)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and isinstance(event.get("type"), str):
                        yield cast(Event, event)
            except aiohttp.ClientError as exc:
                raise ServerUnreachable(self.base_url, _reason(exc)) from None
            finally:
                self._events_socket = None
        if ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION:
            raise ApiError(401, "unauthorized", "The session has ended.")
