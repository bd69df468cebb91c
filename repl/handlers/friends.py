"""/users, /friends, /requests, /add, /accept, /reject, /unfriend, /block, /unblock, /blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import ApiError
from ..commands import STATUSES, Arg, Param, ShellError, command
from ..render import request_line, when
from ..state import load_blocks, load_friends, load_requests, refresh

if TYPE_CHECKING:
    from ..shell import Shell


@command("users", "list users, or those whose name starts with PREFIX",
         Param("PREFIX", Arg.WORD, optional=True))  # fmt: skip
async def users(shell: Shell, prefix: str = "") -> None:
    found, more = await shell.client.list_users(prefix)
    shell.state.usernames.update(u["username"] for u in found)
    if not found:
        shell.say("No users match." if prefix else "No users yet.")
        return
    friends = {f["user"]["id"] for f in shell.state.friends}
    for user in found:
        line = user["username"]
        if user["display_name"] != user["username"]:
            line += f" ({user['display_name']})"
        if user["id"] == shell.state.me_id:
            line += "  [you]"
        elif user["id"] in friends:
            line += "  [friend]"
        shell.say(line)
    if more:
        shell.notice("…and more: /users PREFIX narrows the list.")


@command("friends", "list your friends")
async def friends(shell: Shell) -> None:
    await load_friends(shell.client, shell.state)
    if not shell.state.friends:
        shell.say("No friends yet: /add USERNAME sends a friend request.")
    for friend in shell.state.friends:
        shell.say(f"{friend['user']['username']}  (friends since {when(friend['since'])})")


@command("requests", "list friend requests: pending (default), accepted, rejected or all",
         Param("STATUS", Arg.STATUS, optional=True))  # fmt: skip
async def requests(shell: Shell, status: str = "pending") -> None:
    status = status.lower()
    if status not in STATUSES:
        raise ShellError(f"STATUS is one of {', '.join(STATUSES)}.")
    found = await shell.client.list_requests(status=None if status == "all" else status)
    if status == "pending":
        shell.state.incoming = [r for r in found if r["to"]["id"] == shell.state.me_id]
    if not found:
        shell.say("No pending friend requests." if status == "pending" else "None.")
    for request in found:
        shell.say(request_line(request, me_id=shell.state.me_id))


@command("add", "send a friend request", Param("USERNAME", Arg.USER))
async def add(shell: Shell, username: str) -> None:
    request = await shell.client.send_request(username)
    if request["status"] == "accepted":
        other = request["from"]["username"]
        await refresh(shell.client, shell.state, "friends", "requests")
        shell.say(f"{other} had asked you already: you are now friends.")
    else:
        shell.say(f"Friend request sent to {request['to']['username']}.")


_REQUEST = Param("REQUEST", Arg.REQUEST)


@command("accept", "accept a friend request, by its id or the sender's name", _REQUEST)
async def accept(shell: Shell, ref: str) -> None:
    await _respond(shell, ref, "accepted")


@command("reject", "reject a friend request, by its id or the sender's name", _REQUEST)
async def reject(shell: Shell, ref: str) -> None:
    await _respond(shell, ref, "rejected")


async def _respond(shell: Shell, ref: str, status: str) -> None:
    if ref.lstrip("#").isdigit():
        request_id = int(ref.lstrip("#"))
    else:
        await load_requests(shell.client, shell.state)
        wanted = ref.casefold()
        found = [r for r in shell.state.incoming if r["from"]["username"].casefold() == wanted]
        if not found:
            raise ShellError(f"No pending friend request from {ref}: /requests lists them.")
        request_id = found[0]["id"]
    request = await shell.client.respond(request_id, status)
    await refresh(shell.client, shell.state, "friends", "requests")
    other = request["from"]["username"]
    if status == "accepted":
        shell.say(f"You and {other} are now friends: /dm {other} to talk.")
    else:
        shell.say(f"Rejected the friend request from {other}.")


@command("unfriend", "stop being friends", Param("USERNAME", Arg.FRIEND))
async def unfriend(shell: Shell, username: str) -> None:
    friend = shell.state.friend(username)
    if friend is None:
        await load_friends(shell.client, shell.state)
        friend = shell.state.friend(username)
    if friend is None:
        raise ShellError(f"{username} is not one of your friends.")
    await shell.client.unfriend(friend["id"])
    await refresh(shell.client, shell.state, "friends")
    shell.say(f"You and {friend['username']} are no longer friends.")


@command("block", "block someone: no more friendship or requests, their group messages hidden",
         Param("USERNAME", Arg.ANYONE))  # fmt: skip
async def block(shell: Shell, username: str) -> None:
    me = shell.state.me
    if me is not None and username.casefold() == me["username"].casefold():
        raise ShellError("You cannot block yourself.")
    await shell.client.block(username)
    await refresh(shell.client, shell.state, "blocks", "friends", "requests")
    user = shell.state.blocked(username)
    name = user["username"] if user is not None else username
    shell.say(
        f"You block {name}: you are not friends, neither can send the other a request, "
        f"and their messages in groups are hidden. /unblock {name} undoes it."
    )


@command("unblock", "stop blocking someone (friendship does not come back by itself)",
         Param("USERNAME", Arg.BLOCKED))  # fmt: skip
async def unblock(shell: Shell, username: str) -> None:
    user = shell.state.blocked(username)
    name = user["username"] if user is not None else username
    try:
        await shell.client.unblock(name)
    except ApiError as exc:
        if exc.status == 404 and exc.code == "not_found":
            raise ShellError(f"You do not block {name}: /blocks lists whom you do.") from None
        raise
    await load_blocks(shell.client, shell.state)
    shell.say(f"You no longer block {name}. /add {name} to be friends again.")


@command("blocks", "list the people you block")
async def blocks(shell: Shell) -> None:
    await load_blocks(shell.client, shell.state)
    if not shell.state.blocks:
        shell.say("You block no one.")
    for blocked in shell.state.blocks:
        shell.say(f"{blocked['user']['username']}  (blocked since {when(blocked['since'])})")
