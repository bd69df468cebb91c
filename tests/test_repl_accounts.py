"""Accounts in the shell: what /register checks before the passwords, invite codes,
/passwd, and server rules said as sentences."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from conftest import PASSWORD, befriend, new_chat, sign_up
from test_repl import Open, url_of

from chaat import invites
from chaat.app import create_app
from chaat.repl.client import ApiError
from chaat.settings import Settings

pytest_plugins = ["test_repl"]  # the shell's harness: the terminal, server and api fixtures


async def test_register_checks_the_username_before_the_passwords(
    terminal: Open, api: TestClient
) -> None:
    await sign_up(api, "bob")
    term = await terminal()
    # The line typed after a refusal is a command again, not a password
    for name in ("x1", "1alice", "al ice"):
        await term.run(
            f'/register "{name}"',
            rf"error: A username is 3 to 32 characters .*\({name} is not\)\.\n",
        )
    await term.run("/help quit", "leave the shell")
    # A password the server would refuse is refused before it is asked for again
    term.type("/register alice", "short")
    await term.expect(r"error: The password must be at least 8 characters\.\n")
    await term.run("/help quit", "leave the shell")
    await term.register("alice")
    # The server is asked whether a name is free (the contract answers that to a session)
    await term.run("/register BOB", r"error: The username BOB is taken: choose another\.\n")
    await term.run("/help quit", "leave the shell")


async def test_an_invite_only_server_asks_for_the_code(terminal: Open, settings: Settings) -> None:
    server = TestServer(create_app(replace(settings, registration="invite")))
    await server.start_server()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        invite = await invites.create(pool, uses=1, expires_in=60, created_by=None)
        term = await terminal(url_of(server))
        term.type("/register alice", PASSWORD, PASSWORD)
        await term.expect(
            r"error: Signing up here needs a valid invite code\. Ask whoever runs the server "
            r"for one, then /register alice INVITE\.\n"
        )
        term.type(f"/register alice {invite['code']}", PASSWORD, PASSWORD)
        await term.expect("Logged in as alice.")
        await term.close()
    finally:
        await pool.close()
        await server.close()


async def test_passwd_changes_the_password_and_ends_the_other_sessions(
    terminal: Open, api: TestClient
) -> None:
    other = await sign_up(api, "alice")  # a session elsewhere
    term = await terminal()
    await term.login("alice")
    term.type("/passwd", "not my password", "a new password", "a new password")
    await term.expect(r"error: That is not your current password; nothing changed\.\n")
    term.type("/passwd", PASSWORD, "short")
    await term.expect(r"error: The password must be at least 8 characters\.\n")
    term.type("/passwd", PASSWORD, "a new password", "another one")
    await term.expect(r"error: The passwords do not match\.\n")
    term.type("/passwd", PASSWORD, "a new password", "a new password")
    await term.expect("Password changed. Your other sessions are logged out; this one goes on.")
    resp = await api.get("/v1/users/me", headers=other.headers)
    assert resp.status == 401
    await term.run("/friends", "No friends yet")  # this session goes on
    await term.run("/logout", "Logged out.")
    await term.login("alice", "a new password")
    history = list(term.shell.session.history.get_strings())
    assert not any("password" in line for line in history), history


async def test_the_servers_rules_read_as_sentences(terminal: Open, api: TestClient) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await befriend(api, alice, bob)
    group = await new_chat(api, alice, ["bob"], kind="group")
    term = await terminal()
    await term.login("alice")
    await term.run(f"/open {group['id']}", "No messages yet")
    out = await term.run("/rename " + "x" * 65, r"error: .*\n")
    assert out == "error: The group name must be at most 64 characters.\n"


def test_validation_details_become_sentences() -> None:
    def said(*details: dict[str, str]) -> str:
        return ApiError(422, "validation_error", "Invalid value for x.", list(details)).describe()

    assert (
        said({"field": "password", "problem": "String should have at least 8 characters"})
        == "The password must be at least 8 characters."
    )
    assert (
        said({"field": "new_password", "problem": "String should have at most 256 characters"})
        == "The new password must be at most 256 characters."
    )
    assert said({"field": "name", "problem": "String should have at least 1 character"}) == (
        "The group name cannot be empty."
    )
    assert said(
        {"field": "username", "problem": "must be 3 to 32 characters of A-Z a-z 0-9 _ . - "
         "and start with a letter"},
        {"field": "password", "problem": "required"},
    ) == (
        "The username must be 3 to 32 characters of A-Z a-z 0-9 _ . - and start with a letter. "
        "The password is missing."
    )  # fmt: skip
    assert said({"field": "limit", "problem": "Input should be a valid integer"}) == (
        "The limit must be a valid integer."
    )
    assert said({"field": "reply_to", "problem": "unknown field"}) == (
        "The server does not know reply_to: it may run an older version of Chaat."
    )
    # Wording it does not know is passed on as the server said it
    assert said({"field": "user", "problem": "is yourself"}) == (
        "Invalid value for x. (user: is yourself)"
    )
