"""This server process in the cluster (``serve --redis``): its id, its heartbeat, its pub/sub, its leases.

:class:`ClusterNode` announces the process at ``vz:server:{id}`` (its public URL, ``SERVER_TTL_S``,
renewed every ``HEARTBEAT_S``) and keeps the list of live processes. Every Redis message this process
sends goes through one ordered publisher (a bounded queue, pipelined: a reply is never overtaken by a
batch sent after it); every message it hears comes through one pub/sub connection and is handed to the
handler of its channel. Leases (``vz:lease:{sid}``: the owner's id with expiry) are taken with
``SET NX PX`` and renewed or released by a Lua compare-and-set, so a process only ever extends or
deletes its own. While Redis is down, publishes fail (their callbacks hear so), the heartbeat and the
reader retry, and redis-py subscribes again when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.client import PubSub

from vizserver.scale.redis_link import REDIS_ERRORS, RedisLink

log = logging.getLogger("vizserver.scale")

HEARTBEAT_S = 1.0
"""The process renews its server key and its leases this often."""
SERVER_TTL_S = 3.0
LEASE_TTL_S = 3.0
"""A lease its owner stopped renewing is free after this long (docs/architecture.md "Failure")."""
SLOW_HEARTBEAT_S = 1.5
"""A heartbeat longer than this is logged: leases renewed later than ``LEASE_TTL_S`` are lost."""
MAX_PENDING_PUBLISHES = 4096
"""Messages waiting for Redis; past this (Redis slow or down) new ones are dropped and their senders told."""
PUBLISH_PIPELINE = 256
"""Most messages sent to Redis in one round trip."""
READ_WAIT_S = 1.0
RETRY_S = 0.5
"""After a Redis error, the reader and the heartbeat wait this long before trying again."""

RENEW_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
"""Extend this process's lease; take it again if it is gone (a restarted Redis lost it), never another's."""
RELEASE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def server_key(server_id: str) -> str:
    return f"vz:server:{server_id}"


def lease_key(session_id: str) -> str:
    return f"vz:lease:{session_id}"


def edge_channel(server_id: str) -> str:
    return f"vz:edge:{server_id}"


def in_channel(session_id: str) -> str:
    return f"vz:in:{session_id}"


def presence_channel(session_id: str) -> str:
    return f"vz:presence:{session_id}"


Handler = Callable[[bytes], None]
Done = Callable[[bool], None]


class ClusterNode:
    def __init__(self, link: RedisLink, url: str, server_id: str | None = None) -> None:
        self.link = link
        self.url = url
        self.server_id = server_id or secrets.token_hex(6)
        self.live: dict[str, str] = {self.server_id: url}
        """Live server processes (id -> public URL), as of the last heartbeat."""
        self.on_tick: list[Callable[[], Awaitable[None]]] = []
        """Called after each heartbeat (lease renewals, edge watches); a failure is logged, not raised."""
        self._handlers: dict[str, Handler] = {}
        self._pubsub: PubSub = link.client.pubsub()
        self._out: deque[tuple[str, bytes, Done | None]] = deque()
        self._out_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped_publishes = 0
        self.bad_messages = 0

    def advertise(self, url: str) -> None:
        """List this process under ``url`` from the next heartbeat on (its real address once it is bound)."""
        self.live[self.server_id] = self.url = url

    @property
    def urls(self) -> list[str]:
        """The public URLs of the live server processes, this one first."""
        return [self.url, *sorted(u for i, u in self.live.items() if i != self.server_id)]

    async def start(self) -> None:
        await self.subscribe(edge_channel(self.server_id))
        with contextlib.suppress(*REDIS_ERRORS):
            await self._beat()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send(), name="redis publish"),
                       loop.create_task(self._read(), name="redis read"),
                       loop.create_task(self._heartbeat(), name="redis heartbeat")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(*REDIS_ERRORS):
            await self.link.client.delete(server_key(self.server_id))
        with contextlib.suppress(*REDIS_ERRORS):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    # --- pub/sub ---

    def on(self, channel: str, handler: Handler) -> None:
        """Route messages of ``channel`` to ``handler`` (subscribe separately)."""
        self._handlers[channel] = handler

    async def subscribe(self, channel: str, handler: Handler | None = None) -> None:
        if handler is not None:
            self._handlers[channel] = handler
        try:
            await self._pubsub.subscribe(channel)
        except REDIS_ERRORS as exc:  # redis-py subscribes again to every channel when it reconnects
            self.link.failed(exc)
            self._pubsub.channels[channel.encode()] = None

    async def unsubscribe(self, channel: str) -> None:
        self._handlers.pop(channel, None)
        try:
            await self._pubsub.unsubscribe(channel)
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            self._pubsub.channels.pop(channel.encode(), None)

    def publish(self, channel: str, data: bytes, done: Done | None = None) -> None:
        """Send ``data`` on ``channel`` after everything published before it; ``done`` hears whether it went."""
        if len(self._out) >= MAX_PENDING_PUBLISHES:
            self.dropped_publishes += 1
            if done is not None:
                done(False)
            return
        self._out.append((channel, data, done))
        self._out_ready.set()

    async def _send(self) -> None:
        while True:
            await self._out_ready.wait()
            self._out_ready.clear()
            while self._out:
                batch = [self._out.popleft() for _ in range(min(len(self._out), PUBLISH_PIPELINE))]
                ok = True
                try:
                    pipe = self.link.client.pipeline(transaction=False)
                    for channel, data, _ in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
                except REDIS_ERRORS as exc:
                    self.link.failed(exc)
                    ok = False
                for _, _, done in batch:
                    if done is not None:
                        done(ok)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_WAIT_S)
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
                await asyncio.sleep(RETRY_S)
                continue
            except RuntimeError:  # no pub/sub connection yet (Redis was down at the first subscribe)
                await asyncio.sleep(RETRY_S)
                with contextlib.suppress(*REDIS_ERRORS):
                    await self._pubsub.subscribe(*[_text(c) for c in self._pubsub.channels] or
                                                 [edge_channel(self.server_id)])
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            handler = self._handlers.get(name)
            if handler is None:
                continue
            try:
                handler(message["data"])
            except Exception:  # one bad message must not stop this process's bus
                self.bad_messages += 1
                log.exception("redis: message on %s could not be handled", name)

    # --- heartbeat and leases ---

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            began = loop.time()
            for tick in list(self.on_tick):  # leases first: a loaded process renews before anything else
                try:
                    await tick()
                except REDIS_ERRORS as exc:
                    self.link.failed(exc)
                except Exception:
                    log.exception("redis: a heartbeat task failed")
            try:
                await self._beat()
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
            except Exception:  # the heartbeat must outlive any one failure: leases and the server list hang on it
                log.exception("redis: the server list could not be read")
            took = loop.time() - began
            if took > SLOW_HEARTBEAT_S:
                log.warning("redis: a heartbeat took %.1f s (leases live %.0f s)", took, LEASE_TTL_S)

    async def _beat(self) -> None:
        client = self.link.client
        await client.set(server_key(self.server_id), self.url, px=int(SERVER_TTL_S * 1000))
        keys = [k async for k in client.scan_iter(match="vz:server:*", count=256)]
        urls = await client.mget(keys) if keys else []
        live = {_text(k).removeprefix("vz:server:"): _text(u) for k, u in zip(keys, urls, strict=True) if u}
        live[self.server_id] = self.url
        self.live = live

    async def acquire(self, session_id: str) -> bool:
        """Take the lease of ``session_id`` if nobody holds it."""
        return bool(await self.link.client.set(lease_key(session_id), self.server_id, nx=True,
                                               px=int(LEASE_TTL_S * 1000)))

    async def renew(self, session_id: str) -> bool:
        """Extend this process's lease; False when it is not (or no longer) this process's."""
        result: Any = await self.link.client.eval(RENEW_LUA, 1, lease_key(session_id), self.server_id,
                                                  str(int(LEASE_TTL_S * 1000)))
        return bool(result)

    async def renew_all(self, session_ids: list[str]) -> list[bool]:
        """:meth:`renew` for each of ``session_ids``, in one round trip."""
        if not session_ids:
            return []
        pipe = self.link.client.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.eval(RENEW_LUA, 1, lease_key(session_id), self.server_id, str(int(LEASE_TTL_S * 1000)))
        return [bool(r) for r in await pipe.execute()]

    async def holders(self, session_ids: list[str]) -> list[str | None]:
        """:meth:`holder` of each of ``session_ids``, in one round trip."""
        if not session_ids:
            return []
        values = await self.link.client.mget([lease_key(s) for s in session_ids])
        return [None if v is None else _text(v) for v in values]

    async def release(self, session_id: str) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            await self.link.client.eval(RELEASE_LUA, 1, lease_key(session_id), self.server_id)

    async def holder(self, session_id: str) -> str | None:
        """The server id holding the lease of ``session_id``, or None."""
        value = await self.link.client.get(lease_key(session_id))
        return None if value is None else _text(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
