"""Counting a client's bad messages over a sliding window (docs/protocol.md, "Bad input"). Pure, clock passed in."""

from __future__ import annotations

from collections import deque

from vizserver.config import BAD_MESSAGE_LIMIT, BAD_MESSAGE_WINDOW_S


class BadMessageWindow:
    """``record(now)`` is true once ``limit`` bad messages fall within ``window_s`` seconds."""

    def __init__(self, limit: int = BAD_MESSAGE_LIMIT, window_s: float = BAD_MESSAGE_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=limit)

    def record(self, now: float) -> bool:
        self._times.append(now)
        return len(self._times) >= self.limit and now - self._times[0] <= self.window_s
