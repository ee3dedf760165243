"""One process's connection to Redis, and whether Redis is reachable right now.

:class:`RedisLink` wraps a ``redis.asyncio`` client made from a ``redis://HOST:PORT/DB`` URL. A
watch task pings Redis every ``PING_INTERVAL_S``; a ping that fails or takes longer than
``PING_TIMEOUT_S`` marks Redis down (``up`` is False, ``last_error`` says why, ``outages`` counts
the transitions) until a later ping succeeds. Callers never block on a down Redis for long: every
command has the client's socket timeout. The link never raises out of its watch task; what depends
on Redis (fan-out, the store, twin jobs) checks ``up`` or catches :data:`REDIS_ERRORS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vizserver.errors import VizServerError

log = logging.getLogger("vizserver.redis")

PING_INTERVAL_S = 0.5
PING_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 2.0
"""No Redis command waits longer than this; a slow Redis then counts as down."""

REDIS_PROTOCOL = 2
"""RESP2 for every client: redis-py 8 defaults to RESP3, whose parser builds ``str()`` of each pub/sub message
for a debug log line even when that log is off, 1.7 ms of CPU per 200 KB frame against 0.14 ms with RESP2
(benchmarks/redis_pubsub.py); nothing here needs RESP3's types."""

STALE_CONNECTION_RETRIES = 1
"""A command that fails with a connection error is tried once more (on a new connection) before it fails."""

REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisConnectionError, RedisTimeoutError, OSError,
                                                 TimeoutError)
"""What a Redis call raises when Redis is down, slow or restarting."""


class RedisUrlError(VizServerError):
    """The ``--redis`` URL is not a ``redis://`` or ``rediss://`` URL."""


def check_redis_url(url: str) -> str:
    """``url`` when it is a usable Redis URL, else :class:`RedisUrlError` saying what is expected."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise RedisUrlError(f"--redis {url!r}: expected redis://HOST:PORT/DB (or rediss:// for TLS)")
    return url


def safe_url(url: str) -> str:
    """``url`` without its password, for logs and ``/api/health``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class RedisLink:
    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = check_redis_url(url)
        # One retry on a fresh connection for a connection error: after Redis restarts, the pool's idle
        # connections are dead, and the first command on each must not count as a new outage.
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, protocol=REDIS_PROTOCOL, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=5,
            retry=Retry(NoBackoff(), STALE_CONNECTION_RETRIES, supported_errors=(RedisConnectionError,)),
        )
        self.up = False
        self.last_error: str | None = None
        self.outages = 0
        self.down_since: float | None = None
        self.on_up: list[Callable[[], None]] = []
        """Called (on the event loop) each time Redis becomes reachable again after an outage."""
        self._clock = clock
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Ping once (so ``up`` is known at start), then keep watching in the background."""
        await self._ping()
        if not self.up:
            log.error("Redis at %s is not reachable (%s); serving local clients until it is", safe_url(self.url),
                      self.last_error)
        self._watch = asyncio.get_running_loop().create_task(self._run(), name="redis watch")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        with contextlib.suppress(*REDIS_ERRORS):
            await self.client.aclose()

    def failed(self, exc: BaseException) -> None:
        """A caller's Redis command failed: mark Redis down now rather than at the next ping."""
        self._mark_down(f"{type(exc).__name__}: {exc}")

    def health(self) -> dict[str, object]:
        """What ``/api/health`` shows of Redis."""
        down_for = None if self.down_since is None else round(self._clock() - self.down_since, 1)
        return {"url": safe_url(self.url), "up": self.up, "outages": self.outages, "down_for_s": down_for,
                "error": None if self.up else self.last_error}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            await self._ping()

    async def _ping(self) -> None:
        try:
            await asyncio.wait_for(self.client.ping(), PING_TIMEOUT_S)
        except REDIS_ERRORS as exc:
            self._mark_down(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return
        if not self.up:
            was_down = self.down_since is not None
            self.up, self.last_error, self.down_since = True, None, None
            if was_down:
                log.warning("Redis at %s is back", safe_url(self.url))
            for callback in list(self.on_up):
                callback()

    def _mark_down(self, why: str) -> None:
        self.last_error = why
        if self.up or self.down_since is None:
            if self.up:
                self.outages += 1
                log.error("Redis at %s is down: %s", safe_url(self.url), why)
            self.up = False
            self.down_since = self._clock()
