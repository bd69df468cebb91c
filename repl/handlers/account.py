"""/help, /register, /login, /passwd, /logout, /quit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import ApiError
from ..commands import (
    Arg,
    Param,
    ShellError,
    command,
    help_text,
    password_problem,
    username_problem,
)

if TYPE_CHECKING:
    from ..shell import Shell

_USERNAME = Param("USERNAME", Arg.WORD)


@command("help", "list the commands, or explain one", Param("COMMAND", Arg.COMMAND, True),
         needs_login=False)  # fmt: skip
async def help_(shell: Shell, name: str | None = None) -> None:
    shell.say(help_text(name))


@command("register", "create an account (asks for a password) and log in; INVITE is for "
         "servers that need a code", _USERNAME,
         Param("INVITE", Arg.WORD, optional=True), needs_login=False)  # fmt: skip
async def register(shell: Shell, username: str, invite: str | None = None) -> None:
    problem = username_problem(username)
    if problem is not None:
        raise ShellError(problem)
    if await _taken(shell, username):
        raise ShellError(f"The username {username} is taken: choose another.")
    password = await _new_password(shell, "Password: ", "Password again: ")
    if password is None:
        return
    try:
        user = await shell.client.register(username, password, invite=invite)
    except ApiError as exc:
        if exc.code == "invalid_invite" and invite is None:
            raise ShellError(
                f"{exc.describe()} Ask whoever runs the server for one, then "
                f"/register {username} INVITE."
            ) from None
        raise
    shell.say(f"Registered {user['username']}.")
    previous = shell.client.token
    session = await shell.client.log_in(username, password)
    await shell.begin_session(session["user"], replacing=previous)


@command("login", "log in (asks for the password)", _USERNAME, needs_login=False)
async def login(shell: Shell, username: str) -> None:
    password = await shell.ask_password()
    if password is None:
        shell.notice("Cancelled.")
        return
    previous = shell.client.token  # kept if this login fails
    session = await shell.client.log_in(username, password)
    await shell.begin_session(session["user"], replacing=previous)


async def _taken(shell: Shell, username: str) -> bool:
    """Whether the server says someone has username. The contract asks for a token to
    look a user up, so without a session this cannot tell, and registering says."""
    try:
        await shell.client.get_user(username)
    except ApiError:
        return False  # 404: free; 401: we cannot know yet
    return True


async def _new_password(shell: Shell, prompt: str, again: str) -> str | None:
    """A new password, typed twice and checked against the contract's rules; None if
    cancelled. Fails with the reason when the two differ or the password breaks a rule."""
    password = await shell.ask_password(prompt)
    if password is not None:
        problem = password_problem(password)
        if problem is not None:
            raise ShellError(problem)
    repeated = await shell.ask_password(again) if password is not None else None
    if password is None or repeated is None:
        shell.notice("Cancelled.")
        return None
    if password != repeated:
        raise ShellError("The passwords do not match.")
    return password


@command("passwd", "change your password (asks for the current one, then the new one twice)")
async def passwd(shell: Shell) -> None:
    old = await shell.ask_password("Current password: ")
    if old is None:
        shell.notice("Cancelled.")
        return
    new = await _new_password(shell, "New password: ", "New password again: ")
    if new is None:
        return
    try:
        await shell.client.change_password(old, new)
    except ApiError as exc:
        if exc.code == "invalid_credentials":
            raise ShellError("That is not your current password; nothing changed.") from None
        raise
    shell.say("Password changed. Your other sessions are logged out; this one goes on.")


@command("logout", "log out; the token is forgotten")
async def logout(shell: Shell) -> None:
    await shell.end_session(revoke=True)
    shell.say("Logged out.")


@command("quit", "leave the shell (Ctrl-D does too)", needs_login=False)
async def quit_(shell: Shell) -> bool:
    return False
