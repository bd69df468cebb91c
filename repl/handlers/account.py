"""/help, /register, /login, /logout, /quit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..commands import Arg, Param, ShellError, command, help_text

if TYPE_CHECKING:
    from ..shell import Shell

_USERNAME = Param("USERNAME", Arg.WORD)


@command("help", "list the commands, or explain one", Param("COMMAND", Arg.COMMAND, True),
         needs_login=False)  # fmt: skip
async def help_(shell: Shell, name: str | None = None) -> None:
    shell.say(help_text(name))


@command("register", "create an account (asks for a password) and log in", _USERNAME,
         needs_login=False)  # fmt: skip
async def register(shell: Shell, username: str) -> None:
    password = await shell.ask_password("Password: ")
    again = await shell.ask_password("Password again: ") if password is not None else None
    if password is None or again is None:
        shell.notice("Cancelled.")
        return
    if password != again:
        raise ShellError("The passwords do not match.")
    user = await shell.client.register(username, password)
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


@command("logout", "log out; the token is forgotten")
async def logout(shell: Shell) -> None:
    await shell.end_session(revoke=True)
    shell.say("Logged out.")


@command("quit", "leave the shell (Ctrl-D does too)", needs_login=False)
async def quit_(shell: Shell) -> bool:
    return False
