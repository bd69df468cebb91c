"""Limits on how often something may happen."""

from __future__ import annotations

import time
from collections.abc import Hashable


class Throttle:
    """Lets one event per key through every `interval` seconds, in this process, and
    drops the rest (typing notices: the contract lets the server drop them)."""

    def __init__(self, interval: float, *, most_keys: int = 100_000) -> None:
        self._interval = interval
        self._most_keys = most_keys
        self._last: dict[Hashable, float] = {}

    def allow(self, key: Hashable) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) >= self._most_keys:  # forget the keys that are past their interval
            self._last = {k: t for k, t in self._last.items() if now - t < self._interval}
        self._last[key] = now
        return True
