"""Passwords (Argon2id, hashed off the event loop), tokens (itsdangerous-signed), and the
cache of checked tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Generic, TypeVar

import argon2
from itsdangerous import BadSignature, URLSafeTimedSerializer
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from chaat import errors

T = TypeVar("T")

log = logging.getLogger(__name__)

TOKEN_PREFIX = "chaat_"
"""Tokens start with this, so a leaked one is easy to recognise (and to scan for)."""


NICENESS = 10
"""Argon2's threads' niceness: a tenth of a request's CPU weight when both want a core."""
PARALLELISM = 1
"""Lanes of a new hash (argon2-cffi's default is 4). libargon2 computes each lane in a
thread of its own, started anew for each of a hash's 12 slices (4 a pass, t=3): in a
login storm on 2 cores, 8 hashing threads kept the event loop from a core until the
scheduler's next tick (`perf sched`: the loop's wait, p99 5.2 ms). With one lane a hash
runs in the pool's own thread, one per core, and the storm's probe (bench/compare.py
--workload login) went from 3.8 and 4.7 times its idle p99 to 2.2-2.9 (README,
"Performance"). A login now takes its hash's CPU time in wall time (about 230 ms here,
against 170). Memory and passes, what a guess costs, are unchanged; OWASP's
recommended settings have one lane too. Hashes of 4 lanes still verify, and are
rehashed at their owner's next login."""


def _yield_to_requests() -> None:
    """Run this worker thread behind the requests: Linux's SCHED_BATCH (no wake-up
    preemption) at niceness 10, set per thread and inherited by the threads Argon2
    starts, so a storm of logins takes mostly the CPU the requests leave. Not
    SCHED_IDLE or niceness 19, which disturb requests less: while other work keeps the
    cores busy, logins then all but stop (bench/faults.py --scenario login --cpu-hogs 2:
    7 or 8 of 50 unanswered after 120 s) instead of slowing down."""
    tid = threading.get_native_id()
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, tid, NICENESS)


OWASP_FLOOR = {"time_cost": 2, "memory_cost": 19 * 1024}
"""OWASP's Password Storage Cheat Sheet's weakest Argon2id setting (t=2, m=19 MiB, p=1)."""

COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])
"""The 30,000 most common passwords of the leaks zxcvbn learnt from (its frequency
list; zxcvbn-python, MIT licence), in lower case: 11,611 are 8 characters or more."""


def refuse_weak_password(password: str, username: str, field: str = "password") -> None:
    """422 naming `field` for a password found first in any guesser's list."""
    if password.lower() == username.lower():
        problem = "must not be the username"
    elif password.lower() in COMMON_PASSWORDS:
        problem = "is one of the most common passwords; choose another"
    else:
        return
    raise errors.ValidationError(
        f"The {field.replace('_', ' ')} {problem}.", [{"field": field, "problem": problem}]
    )


class Passwords:
    """Argon2id hashing, off the event loop: in at most one thread per core among all
    `processes` of the server (more hashes at once would only share the cores and the
    memory, and slow every request down), at a lower priority."""

    def __init__(self, *, time_cost: int, memory_cost: int, processes: int = 1) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=PARALLELISM,
            type=argon2.Type.ID,
        )
        if time_cost < OWASP_FLOOR["time_cost"] or memory_cost < OWASP_FLOOR["memory_cost"]:
            log.warning(
                "Argon2id at t=%d, m=%d KiB is below OWASP's floor (t=2, m=19456 KiB):"
                " fine for tests, weak for real passwords",
                time_cost,
                memory_cost,
            )
        self._threads = ThreadPoolExecutor(
            max_workers=max(1, (os.cpu_count() or 1) // processes),
            thread_name_prefix="argon2",
            initializer=_yield_to_requests,
        )
        # Checked when the username is unknown, so that a wrong name costs
        # as much time as a wrong password and the two cannot be told apart.
        self._dummy_hash = self._hasher.hash("not a password of anyone")

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether password matches; None (no such user) still costs one verification."""
        try:
            return (
                await self._run(self._hasher.verify, password_hash or self._dummy_hash, password)
                and password_hash is not None
            )
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)


class Tokens:
    """A token is the signed id of an auth_token row; the row decides whether it still works."""

    def __init__(self, secret_key: str, *, ttl: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="chaat.token")
        self._ttl = ttl

    def sign(self, token_id: int) -> str:
        return TOKEN_PREFIX + self._serializer.dumps(token_id)

    def unsign(self, token: str) -> int | None:
        """The token row's id, or None when the token is malformed, forged or too old."""
        # A header may carry any byte; itsdangerous only copes with ASCII.
        if not (token.isascii() and token.startswith(TOKEN_PREFIX)):
            return None
        try:
            token_id = self._serializer.loads(token[len(TOKEN_PREFIX) :], max_age=self._ttl)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        return token_id if isinstance(token_id, int) and 0 < token_id < 2**63 else None


class CheckedTokens(Generic[T]):
    """Tokens recently checked (signature and row), so that most requests need neither
    a database trip nor the signature's HMAC to know their caller.

    Revocation still takes effect at once: trusted only while the event hub listens for
    revocations (hub.TOKENS_CHANNEL), a user's entries go when one arrives (the
    revoking process drops them before it answers), and everything goes whenever the
    listener drops. A check that raced a revocation is not remembered (ticket), and no
    entry outlives max_age seconds or its token.
    """

    def __init__(self, *, max_age: float = 60.0) -> None:
        self._max_age = max_age
        self._entries: dict[str, tuple[int, T, datetime, float]] = {}
        self._revocations = 0
        self._trusted = False

    def get(self, token: str) -> T | None:
        entry = self._entries.get(token) if self._trusted else None
        if entry is None:
            return None
        _, value, expires_at, checked_at = entry
        if time.monotonic() - checked_at > self._max_age or expires_at <= datetime.now(UTC):
            del self._entries[token]
            return None
        return value

    def ticket(self) -> int:
        """Take before reading a token's row; give it to put() with what was read."""
        return self._revocations

    def put(self, token: str, value: T, *, user_id: int, expires_at: datetime, ticket: int) -> None:
        if self._trusted and ticket == self._revocations:
            self._entries[token] = (user_id, value, expires_at, time.monotonic())

    def revoked(self, user_id: int) -> None:
        """Some of the user's tokens were revoked (or their account changed)."""
        self._revocations += 1
        for token in [t for t, entry in self._entries.items() if entry[0] == user_id]:
            del self._entries[token]

    def listening(self, up: bool) -> None:
        """Whether revocations can reach us now; entries from before never count."""
        self._revocations += 1
        self._entries.clear()
        self._trusted = up
