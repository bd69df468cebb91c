"""Limits on how often something may happen: rate limits (429) and the typing throttle.

Every rate limit is one `Rate` under a name, spent by one `Limiter`: per user for what
a user does once logged in, per client address for signups and failed logins. The
counts live in PostgreSQL (table rate_limit, function take_rate), so they hold across
every server process and host sharing the database, and one statement spends a unit
under the key's row lock: N parallel requests can never pass a limit of n < N.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import re
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from chaat import db, errors, store

log = logging.getLogger(__name__)

PRUNE_SECONDS = 600


@dataclass(frozen=True)
class Rate:
    """`count` at once, then `count` per `seconds` (one every seconds/count seconds)."""

    count: int
    seconds: int

    @property
    def period(self) -> float:
        return self.seconds / self.count

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "20/60": 20 per 60 seconds."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise ValueError(
                f"expected COUNT/SECONDS with both at least 1 (like 20/60), got {text!r}"
            )
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


@dataclass(frozen=True)
class Limit:
    rate: Rate
    what: str
    """What is counted, for the 429's message ("Too many <what>")."""
    per_address: bool = False
    """Counted per client address (else per user)."""


LIMITS: dict[str, Limit] = {
    "signup": Limit(Rate(10, 3600), "signups from your address", per_address=True),
    "login_address": Limit(Rate(30, 600), "failed logins from your address", per_address=True),
    "login_account": Limit(
        Rate(5, 300), "failed logins for this account from your address", per_address=True
    ),
    "message": Limit(Rate(20, 20), "messages sent or edited"),
    "reaction": Limit(Rate(60, 60), "reactions"),
    "friend_request": Limit(Rate(20, 3600), "friend requests"),
    "chat": Limit(Rate(30, 600), "chats created or members added"),
    "typing": Limit(Rate(60, 60), "typing notices"),
    "search": Limit(Rate(30, 60), "searches"),
    "invite": Limit(Rate(20, 3600), "invites"),
}
"""Every rate limit, by the name its setting takes (CHAAT_RATE_LIMIT_<NAME>=COUNT/SECONDS)."""

DEFAULT_RATES: Mapping[str, Rate] = {name: limit.rate for name, limit in LIMITS.items()}

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/users"): "signup",
    ("POST", "/v1/chats/{chat_id}/messages"): "message",
    ("POST", "/v1/users/{user}/messages"): "message",
    ("PATCH", "/v1/chats/{chat_id}/messages/{seq}"): "message",
    ("PUT", "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"): "reaction",
    ("DELETE", "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"): "reaction",
    ("POST", "/v1/friend-requests"): "friend_request",
    ("POST", "/v1/chats"): "chat",
    ("POST", "/v1/chats/{chat_id}/participants"): "chat",
    ("POST", "/v1/chats/{chat_id}/typing"): "typing",
    ("GET", "/v1/messages"): "search",
    ("POST", "/v1/invites"): "invite",
}
"""The requests that spend a limit (method, route), once authenticated and parsed;
logins spend theirs in chaat.users.log_in, only when they fail."""

SPENT_BY_THE_HANDLER = frozenset({("POST", "/v1/chats/{chat_id}/messages")})
"""Routes of ROUTES whose handler spends the limit in the very statement that does the
work (Limiter.terms), so that a send stays one round trip; the middleware leaves them."""


@dataclass(frozen=True)
class Terms:
    """What spending one unit takes, for a statement that spends it itself (take_rate)."""

    key: str
    burst: int
    period_seconds: float


def refusal(name: str, wait: float) -> errors.RateLimited:
    """The 429 for limit `name` when a unit is back in `wait` seconds."""
    retry_after = math.ceil(wait)
    return errors.RateLimited(
        f"Too many {LIMITS[name].what}; try again in {retry_after} s.", retry_after=retry_after
    )


class Limiter:
    """Spends and gives back units of the limits in force; rates None: no limits."""

    def __init__(self, pool: asyncpg.Pool, rates: Mapping[str, Rate] | None) -> None:
        self._pool = pool
        self._rates = rates

    async def spend(self, name: str, who: str | int) -> None:
        """Count one against `who` (a user id or a client address), or raise 429."""
        terms = self.terms(name, who)
        if terms is None:
            return
        async with db.connection(self._pool) as conn:
            wait = await store.rate_limits.take(
                conn, key=terms.key, burst=terms.burst, period_seconds=terms.period_seconds
            )
        if wait > 0:
            raise refusal(name, wait)

    def terms(self, name: str, who: str | int) -> Terms | None:
        """What spending one unit of `name` against `who` takes; None when it is off."""
        rate = self._rate(name)
        return None if rate is None else Terms(f"{name}:{who}", rate.count, rate.period)

    async def give_back(self, name: str, who: str | int) -> None:
        """Return one unit spent on something that turned out not to count."""
        rate = self._rate(name)
        if rate is not None:
            async with db.connection(self._pool) as conn:
                await store.rate_limits.give_back(
                    conn, key=f"{name}:{who}", period_seconds=rate.period
                )

    async def forget(self, name: str, who: str | int) -> None:
        """Give `who` its whole allowance back."""
        if self._rate(name) is not None:
            async with db.connection(self._pool) as conn:
                await store.rate_limits.delete(conn, key=f"{name}:{who}")

    def _rate(self, name: str) -> Rate | None:
        assert name in LIMITS, name
        return None if self._rates is None else self._rates.get(name)

    async def prune(self) -> None:
        """Drop the keys whose allowance is full again: they count as much as no key."""
        async with db.connection(self._pool) as conn:
            await store.rate_limits.prune(conn)

    async def prune_forever(self) -> None:
        """Prune now and every PRUNE_SECONDS; a failure waits for the next time."""
        while True:
            try:
                await self.prune()
            except Exception as exc:
                db.log_failure("rate limit pruning", exc)
            await asyncio.sleep(PRUNE_SECONDS)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: web.Request, trusted_proxies: Sequence[Network] = ()) -> str:
    """Who is calling, for limits and logs: the peer's address, or, when the peer is a
    trusted proxy, the nearest untrusted hop of X-Forwarded-For. An IPv6 address
    counts as its /64, which one host usually has whole."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address = _ip(peer[0] if isinstance(peer, tuple) else None)
    if address is not None and _trusted(address, trusted_proxies):
        hops = ",".join(request.headers.getall("X-Forwarded-For", ())).split(",")
        for hop in reversed(hops):
            forwarded = _ip(hop.strip())
            if forwarded is None:
                break  # a hop we cannot read: stop at the last one we could
            address = forwarded
            if not _trusted(address, trusted_proxies):
                break
    if address is None:
        return "unknown"  # a Unix socket
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").split("%")[0])
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]
) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


class Throttle:
    """Lets one event per key through every `interval` seconds, in this process, and
    drops the rest (typing notices: the contract lets the server drop them)."""

    def __init__(self, interval: float, *, most_keys: int = 100_000) -> None:
        self._interval = interval
        self._most_keys = most_keys
        self._last: dict[Hashable, float] = {}

    def allow(self, key: Hashable) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) >= self._most_keys:  # forget the keys that are past their interval
            self._last = {k: t for k, t in self._last.items() if now - t < self._interval}
        self._last[key] = now
        return True
