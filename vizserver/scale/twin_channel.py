"""The worker loop's :class:`~vizserver.twins.worker.Channel` over a job's two Redis streams (worker side).

``send`` adds an entry to the job's ``to-server`` stream; the server deletes what it has read, so
the stream's length is what the server has not read yet. Past :data:`MAX_UNREAD` the channel waits
for the server to catch up (as a pipe blocks), so a slow server slows the twin rather than growing
Redis; ``MAXLEN`` bounds the stream even if the server vanished, and a server that reads nothing for
:data:`SERVER_GONE_S` ends the job. ``receive`` reads the ``to-worker`` stream in short blocking slices,
between which it checks ``should_stop`` (the worker is shutting down, or the job has a newer generation).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

import redis

from vizserver.scale.twin_keys import STREAM_TTL_S, JobStreams, entries, message_fields, message_of
from vizserver.twins import wire
from vizserver.twins.worker import ChannelClosedError, Received

MAX_UNREAD = 16
"""Messages the server may leave unread before ``send`` waits."""
MAX_STREAM_ENTRIES = 64
"""Hard bound of each job stream (``XADD MAXLEN``)."""
SERVER_GONE_S = 15.0
"""A server that reads nothing for this long while the worker waits to send is gone: the job ends."""
BLOCK_SLICE_S = 0.25
"""Longest single blocking read; ``should_stop`` is checked between slices."""
DRAIN_POLL_S = 0.005
"""How often a waiting sender looks whether the server has read (there is no notification for it)."""
REDIS_OUTAGE_S = 30.0
"""Redis failing for this long ends the job; a shorter outage only stalls the twin (as a stalled pipe would)."""
REDIS_RETRY_S = 0.5

T = TypeVar("T")

StopCheck = Callable[[], str | None]
"""Why the job must end now (a sentence), or None to go on."""

REDIS_FAILURES: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


class RedisChannel:
    """One job's channel: thread-safe enough for the worker loop (one sender, one receiver, one thread)."""

    def __init__(self, client: redis.Redis, streams: JobStreams, should_stop: StopCheck,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.streams = streams
        self.should_stop = should_stop
        self.clock = clock
        self._last_id: bytes = b"0"
        self._buffer: deque[Received] = deque()

    def send_entry(self, fields: dict[str, bytes] | dict[str, str]) -> None:
        """Add one raw entry (a wire message, ``claimed`` or ``released``); waits while the server is behind."""
        unread = self._add(fields)
        if unread < MAX_UNREAD:
            return
        deadline = self.clock() + SERVER_GONE_S
        while self._unread() >= MAX_UNREAD // 2:
            self._check_stop()
            if self.clock() > deadline:
                raise ChannelClosedError(f"the server read nothing for {SERVER_GONE_S:g} s")
            time.sleep(DRAIN_POLL_S)  # no event tells a writer that a stream was read

    def send(self, header: bytes, blobs: Sequence[wire.Buffer] = ()) -> None:
        self._check_stop()
        self.send_entry(message_fields(header, blobs))

    def receive(self, timeout: float | None) -> Received | None:
        deadline = None if timeout is None else self.clock() + max(timeout, 0.0)
        while not self._buffer:
            self._check_stop()
            left = BLOCK_SLICE_S if deadline is None else min(BLOCK_SLICE_S, deadline - self.clock())
            self._read(left)
            if not self._buffer and deadline is not None and self.clock() >= deadline:
                return None
        return self._buffer.popleft()

    def close(self) -> None:
        """Nothing to release: the streams expire on their own (STREAM_TTL_S) and the server deletes them."""

    def _check_stop(self) -> None:
        why = self.should_stop()
        if why is not None:
            raise ChannelClosedError(why)

    def _add(self, fields: dict[str, bytes] | dict[str, str]) -> int:
        def add() -> int:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.xadd(self.streams.to_server, fields, maxlen=MAX_STREAM_ENTRIES, approximate=False)  # type: ignore[arg-type]
                pipe.expire(self.streams.to_server, STREAM_TTL_S)
                pipe.xlen(self.streams.to_server)
                return int(pipe.execute()[-1])

        return self._retried("sending", add)

    def _unread(self) -> int:
        return self._retried("sending", lambda: int(self.client.xlen(self.streams.to_server)))

    def _read(self, wait_s: float) -> None:
        block = None if wait_s <= 0 else max(1, int(wait_s * 1000))
        answer = self._retried("receiving", lambda: self.client.xread({self.streams.to_worker: self._last_id},
                                                                      count=16, block=block))
        for entry_id, fields in entries(answer):
            self._last_id = entry_id
            self._buffer.append(message_of(fields))

    def _retried(self, doing: str, call: Callable[[], T]) -> T:
        """``call()``, retried while Redis fails, for up to REDIS_OUTAGE_S (or until the job must stop)."""
        failing_since: float | None = None
        while True:
            try:
                return call()
            except REDIS_FAILURES as exc:
                now = self.clock()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since > REDIS_OUTAGE_S:
                    raise ChannelClosedError(f"Redis failed while {doing} for {REDIS_OUTAGE_S:g} s: {exc}") from None
            self._check_stop()
            time.sleep(REDIS_RETRY_S)  # waiting for Redis to come back; nothing signals it
