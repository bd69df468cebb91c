"""Accounts and sessions: signup, login, logout, password changes, finding users."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from asyncpg import Connection, Record

from chaat import db, errors, hub, invites, store
from chaat.auth import Caller
from chaat.limits import Limiter
from chaat.security import Passwords, Tokens, refuse_weak_password
from chaat.settings import Registration
from chaat.validation import as_user_id, is_username

JSON = dict[str, Any]

log = logging.getLogger(__name__)


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

    A common password, or the username as password, is refused first (422): it is a
    rule about the body alone, which the contract ranks before 403 and 409.

    When registration is by invitation, the account takes one use of the invite in
    the same transaction: a signup that fails (a taken name) gives it back.
    """
    refuse_weak_password(password, username)
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
    limiter: Limiter,
    *,
    username: str,
    password: str,
    address: str,
    ttl: int,
) -> JSON:
    """A new token for the right password; the same 401, in the same time, for any mistake.

    Every attempt spends a unit of two limits before the password is checked, so that
    parallel guesses cannot all pass: the address's, and the account's from that
    address. A right password gives both back; another address's failures never
    hold up the owner.
    """
    account = f"{username.lower()}@{address}"
    await limiter.spend("login_account", account)
    await limiter.spend("login_address", address)
    async with db.connection(pool) as conn:
        user = await store.users.get_credentials(conn, username=username)
    if not await passwords.verify(user["password_hash"] if user else None, password):
        # A name that cannot be a username may be a password typed in the wrong box.
        shown = username if is_username(username) else "(not a username)"
        log.info("failed login for %s from %s", shown, address)
        raise errors.InvalidCredentials()
    assert user is not None
    await limiter.forget("login_account", account)
    await limiter.give_back("login_address", address)
    # Hashed before a connection is taken: a storm of logins after the parameters changed
    # must not hold the pool while it hashes.
    new_hash = None
    if passwords.needs_rehash(user["password_hash"]):
        new_hash = await passwords.hash(password)
    async with db.connection(pool) as conn:
        if new_hash is not None:
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
    refuse_weak_password(new_password, me.username, "new_password")
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
