"""Lines for a chat that the server has not confirmed: kept in order, with their client_id,
and sent once the server answers again.

A line is sent at once when it can be. If the server cannot be reached (or answers
503) after a quick retry or two, the line waits in State.outbox, the prompt counts
it, and a task sends what waits, oldest first, as soon as the server is back. Every
line keeps the client_id it was first sent with, so a send whose answer was lost
and that is tried again is stored once (the server answers 200 with the first
copy): nothing is lost and nothing doubled. While lines wait, new ones queue
behind them, so a chat gets them in the order they were typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import TYPE_CHECKING

from .chat_view import show_new
from .client import ApiError, Message, ServerUnreachable
from .render import one_line, plural
from .state import Unsent

if TYPE_CHECKING:
    from .shell import Shell


async def send(shell: Shell, chat_id: int, text: str, *, reply_to: int | None = None) -> None:
    """Send text to the chat now, or keep it to send when the server is back."""
    unsent = Unsent(chat_id, text, uuid.uuid4().hex, reply_to)
    if shell.state.outbox:  # older lines wait: this one goes after them
        _keep(shell, unsent)
        return
    try:
        message = await shell.with_retry(lambda: _post(shell, unsent))
    except ServerUnreachable as exc:
        _keep(shell, unsent, why=f"the server cannot be reached ({exc.reason})")
    except ApiError as exc:
        if exc.status != 503:
            raise
        _keep(shell, unsent, why="the server is unavailable")
    else:
        await show_new(shell, message)


def _keep(shell: Shell, unsent: Unsent, *, why: str | None = None) -> None:
    shell.state.outbox.append(unsent)
    if why is not None:
        shell.notice(
            f"Not sent yet: {why}. It will be sent when the server is back "
            "(the prompt counts what waits)."
        )
    shell.redraw()
    shell.flush_outbox()


async def _post(shell: Shell, unsent: Unsent) -> Message:
    return await shell.client.send_message(
        unsent.chat_id, unsent.text, client_id=unsent.client_id, reply_to=unsent.reply_to
    )


async def flush(shell: Shell) -> None:
    """Send what waits, oldest first, trying again with backoff while the server is away."""
    state, delays = shell.state, shell.reconnect_delays
    failures = 0
    while state.outbox:
        unsent = state.outbox[0]
        try:
            message = await _post(shell, unsent)
        except ServerUnreachable:
            message = None
        except ApiError as exc:
            if exc.status == 401:
                return  # the session is over; logging out tells what was dropped
            if exc.status != 503:  # refused for good (no longer friends, say): say so, go on
                state.outbox.pop(0)
                shell.redraw()
                shell.error(f'Not sent, "{one_line(unsent.text, 40)}": {exc.describe()}')
                continue
            message = None
        if message is None:
            shell.server_back.clear()
            with contextlib.suppress(TimeoutError):  # or at once when the events say it is back
                async with asyncio.timeout(delays[min(failures, len(delays) - 1)]):
                    await shell.server_back.wait()
            failures += 1
            continue
        failures = 0
        state.outbox.pop(0)
        shell.redraw()
        if state.open is not None and state.open.id == unsent.chat_id:
            await show_new(shell, message)
        else:
            chat = state.chat(unsent.chat_id)
            where = state.label(chat) if chat is not None else f"chat {unsent.chat_id}"
            shell.notice(f"» Sent to {where}: {one_line(unsent.text, 50)}")


def dropped(shell: Shell) -> None:
    """Say how many lines were never sent, as the session that kept them ends."""
    if shell.state.outbox:
        count = plural(len(shell.state.outbox), "unsent message")
        shell.notice(f"({count} dropped: the server was not reachable.)")
