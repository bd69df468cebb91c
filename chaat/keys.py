"""Every typed key for app and request state, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from chaat.hub import Hub
from chaat.limits import Limiter, Throttle
from chaat.security import CheckedTokens, Passwords, Tokens
from chaat.settings import Settings
from chaat.siblings import Siblings

if TYPE_CHECKING:
    from chaat.auth import Caller  # noqa: F401 (chaat.auth imports this module)
    from chaat.messages import Sends  # noqa: F401 (chaat.messages imports chaat.auth)

settings = web.AppKey("settings", Settings)
pool = web.AppKey("pool", asyncpg.Pool)
passwords = web.AppKey("passwords", Passwords)
tokens = web.AppKey("tokens", Tokens)
hub = web.AppKey("hub", Hub)
siblings = web.AppKey("siblings", Siblings)
"""The other workers of this `chaat serve --workers N`; Siblings() when there are none
(one process, or the Redis bus: chaat.server.run_workers decides)."""
typing_notices = web.AppKey("typing_notices", Throttle)
limiter = web.AppKey("limiter", Limiter)
sends = web.AppKey["Sends"]("sends")
checked_tokens = web.AppKey("checked_tokens", CheckedTokens["Caller"])

current_user = web.RequestKey["Caller"]("current_user")
body = web.RequestKey("body", dict[str, Any])
"""The request's JSON object, parsed (and size-checked) before authentication."""
request_id = web.RequestKey("request_id", str)
route = web.RequestKey("route", str)
"""The request's route ("/v1/chats/{chat_id}"), for logs: never its ids or query."""
client_address = web.RequestKey("client_address", str)
"""Where the caller is, once worked out (chaat.auth.client_address)."""
