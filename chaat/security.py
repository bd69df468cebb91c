"""Passwords (Argon2id, hashed off the event loop) and tokens (itsdangerous-signed)."""

from __future__ import annotations

import asyncio

import argon2
from itsdangerous import BadSignature, URLSafeTimedSerializer

TOKEN_PREFIX = "chaat_"
"""Tokens start with this, so a leaked one is easy to recognise (and to scan for)."""


class Passwords:
    """Argon2id hashing; every call runs in a worker thread so a login never stalls others."""

    def __init__(self, *, time_cost: int, memory_cost: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, type=argon2.Type.ID
        )
        # Checked when the username is unknown, so that a wrong name costs
        # as much time as a wrong password and the two cannot be told apart.
        self._dummy_hash = self._hasher.hash("not a password of anyone")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether password matches; None (no such user) still costs one verification."""
        try:
            return (
                await asyncio.to_thread(
                    self._hasher.verify, password_hash or self._dummy_hash, password
                )
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
