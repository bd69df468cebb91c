"""The worker processes of one `chaat serve --workers N`: wake-ups and live events
between them through local datagram sockets, not through PostgreSQL.

Siblings share a machine, so a wake-up to one costs a system call; through the
Postgres bus it costs a NOTIFY statement and PostgreSQL's work to hand it to every
listener. (bench/compare.py --workers 2 --workload fan-out --rate 600, before and
after: PostgreSQL's CPU per message 862 and 878 µs, then 742 and 643.) The bus
then wakes only the processes of other `chaat serve`s on the same database, and skips
the siblings' listeners when it looks for anyone else (PostgresBus). With the Redis bus
(CHAAT_REDIS_URL) siblings are not used: its channels already wake each process for its
own users only.

Each worker has an inbox, which the others write to. Messages:

- "w": events committed here: look (sent only to siblings with open streams);
- "l <payload>": a live-only event, as the bus carries it (chaat.hub.Hub.send_live);
- "s <index> <listener pid> <streams: 0 or 1> <hub name>": who a sibling is, sent when
  it changes and every STATE_SECONDS.

A datagram is dropped only when the sibling's inbox is full, that is while it has
wake-ups to read anyway; a live event is then lost, as the bus may lose one, and a
state message comes again within STATE_SECONDS. A missed wake-up costs latency, never
an event: the dispatcher also polls (chaat.hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

STATE_SECONDS = 1.0
"""Each worker tells the others who it is at least this often."""
LARGEST = 65536
"""Bytes in one message at most (a live event's payload is a few hundred)."""


@dataclass
class _Sibling:
    listener_pid: int = 0
    streams: bool = False
    name: str = ""


class Siblings:
    """One worker's end: its own inbox, and the others' inboxes (made by inboxes()).
    Siblings() is a process's with no siblings: everything it is told goes nowhere."""

    def __init__(
        self,
        index: int = 0,
        inbox: socket.socket | None = None,
        others: dict[int, socket.socket] | None = None,
    ) -> None:
        self.index = index
        self.inbox = inbox
        self.others = others or {}
        """Each other worker's inbox, by its index."""
        self._known: dict[int, _Sibling] = {}
        self._listener_pid = 0
        self._streams = False
        self._name = ""
        self._hear: Callable[[bytes], None] | None = None

    @staticmethod
    def inboxes(workers: int) -> list[Siblings]:
        """The ends of `workers` workers, made by their parent before it starts them."""
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(workers)]
        return [
            Siblings(n, pairs[n][0], {m: pairs[m][1] for m in range(workers) if m != n})
            for n in range(workers)
        ]

    def close(self) -> None:
        """Close this end's sockets (the parent, once its workers have their copies)."""
        if self.inbox is not None:
            self.inbox.close()
        for other in self.others.values():
            other.close()

    def start(
        self, name: str, *, wake: Callable[[], None], hear_live: Callable[[str], None]
    ) -> None:
        """Hear the others on the running loop: wake() on "w", hear_live(payload) on "l"."""
        self._name = name

        def hear(message: bytes) -> None:
            kind, _, rest = message.decode().partition(" ")
            if kind == "w":
                wake()
            elif kind == "l":
                hear_live(rest)
            elif kind == "s":
                index, pid, streams, sender = rest.split(" ")
                self._known[int(index)] = _Sibling(int(pid), streams == "1", sender)

        self._hear = hear
        if self.inbox is None:
            return
        self.inbox.setblocking(False)
        for other in self.others.values():
            other.setblocking(False)
        asyncio.get_running_loop().add_reader(self.inbox.fileno(), self._read)

    def stop(self) -> None:
        """Stop hearing the others, and close this end."""
        if self.inbox is not None:
            asyncio.get_running_loop().remove_reader(self.inbox.fileno())
        self.close()

    def _read(self) -> None:
        assert self._hear is not None
        assert self.inbox is not None
        while True:
            try:
                message = self.inbox.recv(LARGEST)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("sibling workers' inbox failed (%s); reading on", exc)
                return
            try:
                self._hear(message)
            except ValueError:
                log.warning("ignored a malformed message from a sibling worker")

    async def run(self) -> None:
        """Tell the others who we are every STATE_SECONDS, until cancelled."""
        while self.others:
            self._tell_state()
            await asyncio.sleep(STATE_SECONDS)

    def wake(self) -> None:
        self._send(b"w", only_with_streams=True)

    def send_live(self, payload: str) -> None:
        self._send(f"l {payload}".encode(), only_with_streams=True)

    def listening(self, pid: int) -> None:
        """Our LISTEN connection's backend pid is now pid (0: down)."""
        if pid != self._listener_pid:
            self._listener_pid = pid
            self._tell_state()

    def streams(self, open: bool) -> None:
        """Whether this worker has open streams (the others wake it only then)."""
        if open != self._streams:
            self._streams = open
            self._tell_state()

    def listener_pids(self) -> list[int]:
        """The others' LISTEN connections, as far as we know them."""
        return [sibling.listener_pid for sibling in self._known.values() if sibling.listener_pid]

    def is_sibling(self, name: str) -> bool:
        """Whether a bus message with this hub name came from one of the others."""
        return any(sibling.name == name for sibling in self._known.values())

    def _tell_state(self) -> None:
        state = f"s {self.index} {self._listener_pid} {int(self._streams)} {self._name}"
        self._send(state.encode(), only_with_streams=False)

    def _send(self, message: bytes, *, only_with_streams: bool) -> None:
        for index, other in self.others.items():
            known = self._known.get(index)
            if only_with_streams and (known is None or not known.streams):
                continue
            # Full (it has wake-ups to read anyway), or gone (the server is stopping).
            with contextlib.suppress(OSError):
                other.send(message)
