"""Accounts and sessions: signup, login, logout, password changes, finding users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg import Connection, Record

from chaat import db, errors, hub, invites, store
from chaat.auth import Caller
from chaat.security import Passwords, Tokens
from chaat.settings import Registration
from chaat.validation import as_user_id, is_username

JSON = dict[str, Any]


@dataclass(frozen=True)
class LoginLimit:
    """At most `attempts` failed logins per username in `window` seconds."""

    attempts: int
    window: int


async def sign_up(
    pool: asyncpg.Pool,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    display_name: str | None,
    registration: Registration = "open",
    invite: str | None = None,
) -> JSON:
    """Create an account; the unique index settles two signups of one name.

    When registration is by invitation, the account takes one use of the invite in
    the same transaction: a signup that fails (a taken name) gives it back.
    """
    if registration == "closed":
        raise errors.RegistrationClosed()
    password_hash = await passwords.hash(password)
    async with db.transaction(pool) as conn:
        if registration == "invite" and not (
            invite and await store.invites.use(conn, code_hash=invites.code_hash(invite))
        ):
            raise errors.InvalidInvite()
        row = await store.users.create(
            conn,
            username=username,
            display_name=username if display_name is None else display_name,
            password_hash=password_hash,
        )
    return row["json"]  # type: ignore[no-any-return]


async def log_in(
    pool: asyncpg.Pool,
    passwords: Passwords,
    tokens: Tokens,
    *,
    username: str,
    password: str,
    ttl: int,
    limit: LoginLimit,
) -> JSON:
    """A new token for the right password; the same 401, in the same time, for any mistake.

    A username with too many recent failures is refused (429) before any check.
    """
    async with db.connection(pool) as conn:
        retry_after = await store.login_failures.get_retry_after(
            conn, username=username, attempts=limit.attempts, window_seconds=limit.window
        )
        if retry_after is not None:
            raise errors.RateLimited(
                f"Too many failed logins for this username; try again in {retry_after} s.",
                retry_after=retry_after,
            )
        user = await store.users.get_credentials(conn, username=username)
    if not await passwords.verify(user["password_hash"] if user else None, password):
        async with db.connection(pool) as conn:
            await store.login_failures.create(conn, username=username, window_seconds=limit.window)
        raise errors.InvalidCredentials()
    assert user is not None
    async with db.connection(pool) as conn:
        await store.login_failures.delete(conn, username=username)
        if passwords.needs_rehash(user["password_hash"]):
            new_hash = await passwords.hash(password)
            await store.users.set_password_hash(conn, id=user["id"], password_hash=new_hash)
        token = await store.tokens.create(conn, user_id=user["id"], ttl_seconds=ttl)
    return {
        "token": tokens.sign(token["id"]),
        "expires_at": token["expires_at"],
        "user": user["json"],
    }


async def change_password(
    pool: asyncpg.Pool, passwords: Passwords, me: Caller, *, old_password: str, new_password: str
) -> None:
    """Set a new password and end every other session of the caller."""
    new_hash = await passwords.hash(new_password)
    async with db.transaction(pool) as conn:
        # Locked: a concurrent change must check its old password against ours.
        current = await store.users.get_password_hash(conn, id=me.id)
        if not await passwords.verify(current, old_password):
            raise errors.InvalidCredentials("The old password is wrong.")
        await store.users.set_password_hash(conn, id=me.id, password_hash=new_hash)
        await store.tokens.delete_others_for_user(conn, user_id=me.id, keep_id=me.token_id)
    await hub.revoke_tokens(pool, me.id)


async def find(conn: Connection, ref: int | str) -> Record:
    """The user a reference names (an id, an all-digit string, or a username), else 404."""
    user_id = as_user_id(ref)
    if user_id is not None:
        user = await store.users.get_by_id(conn, id=user_id) if user_id else None
    elif isinstance(ref, str) and is_username(ref):
        user = await store.users.get_by_username(conn, username=ref)
    else:
        user = None  # text that cannot be a username names nobody
    if user is None:
        raise errors.UserNotFound()
    return user


def like_prefix(text: str) -> str:
    """A LIKE pattern matching text literally (usernames may hold `_`, a LIKE wildcard)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_users(
    pool: asyncpg.Pool, *, prefix: str, after: int, limit: int
) -> tuple[list[JSON], bool]:
    """A page of users by id, and whether more follow."""
    async with db.connection(pool) as conn:
        rows = await store.users.list(
            conn, prefix=like_prefix(prefix), after=after, limit=limit + 1
        )
    return rows[:limit], len(rows) > limit


async def revoke_token(pool: asyncpg.Pool, me: Caller) -> None:
    """End the caller's current session."""
    async with db.transaction(pool) as conn:
        await store.tokens.delete(conn, id=me.token_id)
    await hub.revoke_tokens(pool, me.id)


async def revoke_all_tokens(pool: asyncpg.Pool, me: Caller) -> None:
    """End every session of the caller, this one included."""
    async with db.transaction(pool) as conn:
        await store.tokens.delete_all_for_user(conn, user_id=me.id)
    await hub.revoke_tokens(pool, me.id)
