"""The runtime's side of the cluster (``serve --redis``): which sessions this process owns, which it is an edge for.

:class:`ScaleOut` decides, for a session id a request names, whether this process serves it from its own
hub (it owns it), as an edge (another live process holds the lease), or takes it over (nobody holds the
lease and ``vz:session:{sid}`` has its snapshot: the lease is taken and the session restored here). The
default session is made by the first process (``vz:default``, ``SET NX`` under a short making lock) and
found by the others. Each heartbeat the owner renews its leases (a lost lease: its clients are closed
with 1012 and the session is dropped here), and each edge checks its session's lease: a dead owner's
session is taken over and the edge's clients are closed with 1012, so they reconnect and resume.
docs/architecture.md "Scale-out with Redis" has the keys and channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vizserver.scale.bus_wire import BusWireError, Kind, decode_batch, decode_message, encode_message
from vizserver.scale.cluster import ClusterNode, edge_channel
from vizserver.scale.edge import SERVICE_RESTART, EdgeHub, PeerMeta
from vizserver.scale.owner import OwnedSession
from vizserver.scale.presence_fanout import PresenceFanout
from vizserver.scale.redis_link import REDIS_ERRORS, safe_url
from vizserver.scale.rpc import NoReplyError, Requests, answer_call
from vizserver.scale.shared_assets import UPLOAD_OPS, answer_upload_call
from vizserver.server.settings import JOIN_CODE_TTL_S
from vizserver.sessions.snapshot import SnapshotError, decode
from vizserver.streaming.hub import ClientHub, SessionHub

if TYPE_CHECKING:
    from vizserver.server.runtime import ServerRuntime

log = logging.getLogger("vizserver.scale")

DEFAULT_KEY = "vz:default"
DEFAULT_MAKING_KEY = "vz:default:making"
DEFAULT_MAKING_TTL_S = 30.0
DEFAULT_WAIT_S = 60.0
"""Longest a starting process waits for another process making the default session."""
DEFAULT_POLL_S = 0.1
EDGE_IDLE_TICKS = 5
"""An edge with no clients for this many heartbeats is closed."""
VACANT_BEATS = 2
"""An edge takes its session over when the lease has been free at this many heartbeats in a row (an owner
starved of CPU for a moment renews late; a dead one never does)."""


def code_key(join_code: str) -> str:
    return f"vz:code:{join_code.upper()}"


def snapshot_key(session_id: str) -> str:
    return f"vz:session:{session_id}"


class ScaleOut:
    def __init__(self, runtime: ServerRuntime) -> None:
        assert runtime.redis is not None
        self.runtime = runtime
        self.redis = runtime.redis
        self.node = ClusterNode(runtime.redis, runtime.settings.advertised_url)
        self.requests = Requests(self.node, self._late_reply)
        self.owned: dict[str, OwnedSession] = {}
        self.edges: dict[str, EdgeHub] = {}
        self.fanouts: dict[str, PresenceFanout] = {}
        self._idle: dict[str, int] = {}
        self._vacant: dict[str, int] = {}
        """Edges whose session's lease was found free, for how many heartbeats in a row."""
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        """Per session id being looked up: its lock and how many wait on it."""
        self._owning: dict[str, asyncio.Task[None]] = {}
        self._made_default: str | None = None
        self.node.on(edge_channel(self.node.server_id), self._edge_heard)
        self.node.on_tick.append(self._tick)
        self.redis.on_up.append(self._redis_back)

    # --- start and stop ---

    async def start(self, make_default: Callable[[], str]) -> str | None:
        """Join the cluster; the default session's id (made here by ``make_default`` when no process has made
        one yet), or None when Redis does not let that be agreed (down at start, or another process held the
        making lock past ``DEFAULT_WAIT_S``): the runtime then serves a default session of its own, announced
        here once Redis answers (:meth:`_redis_back`)."""
        await self.node.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEFAULT_WAIT_S
        while self.redis.up and loop.time() < deadline:
            try:
                found = await self._default(make_default)
            except REDIS_ERRORS as exc:
                self.redis.failed(exc)
                break
            if found is not None:
                return found
        if self._made_default is not None:  # made here, then Redis failed: it stays the default, announced later
            return self._made_default
            await asyncio.sleep(DEFAULT_POLL_S)  # another process is making it
        log.error("redis at %s: the default session could not be agreed with the other server processes (%s); "
                  "serving one of this process's own", safe_url(self.redis.url), self.redis.last_error or "timeout")
        return None

    async def _default(self, make_default: Callable[[], str]) -> str | None:
        """The default session's id, or None when another process is making it now."""
        client = self.redis.client
        for _ in range(2):
            found = await client.get(DEFAULT_KEY)
            if found is not None:
                session_id = _text(found)
                if await self.hub_for(session_id) is not None:
                    return session_id
                if not self.redis.up:
                    return None
                log.warning("default session %s is gone (no owner, no snapshot): a new one is made", session_id)
                await client.delete(DEFAULT_KEY)  # (a CAS is not needed: every process would make the same call)
                continue
            if await client.set(DEFAULT_MAKING_KEY, self.node.server_id, nx=True, px=int(DEFAULT_MAKING_TTL_S * 1000)):
                session_id = self._made_default or make_default()
                self._made_default = session_id
                await asyncio.shield(self._own_soon(session_id))
                await client.set(DEFAULT_KEY, session_id)
                await client.delete(DEFAULT_MAKING_KEY)
                log.info("default session %s made here", session_id)
                return session_id
            return None
        return None

    async def stop(self) -> None:
        if self._redis_back in self.redis.on_up:
            self.redis.on_up.remove(self._redis_back)
        for task in list(self._owning.values()):
            task.cancel()
        for fanout in list(self.fanouts.values()):
            with contextlib.suppress(*REDIS_ERRORS):
                await fanout.stop()
        for edge in list(self.edges.values()):
            edge.close_all(SERVICE_RESTART, "this server is shutting down; reconnect")
            await edge.stop()
        for owned in list(self.owned.values()):
            with contextlib.suppress(*REDIS_ERRORS):
                await owned.stop()
        await self.node.close()

    # --- finding a session ---

    def opened(self, hub: SessionHub) -> None:
        """The runtime opened a hub (a new or restored session): this process owns it from now."""
        hub.servers = lambda: self.node.urls
        self._own_soon(hub.session.id)

    async def owning(self, session_id: str) -> None:
        """Wait until the other processes can reach ``session_id`` here (a new session's route answers then)."""
        task = self._owning.get(session_id)
        if task is not None:
            await asyncio.shield(task)

    def _own_soon(self, session_id: str) -> asyncio.Task[None]:
        """The one task announcing ``session_id`` as this process's: two at once would each subscribe and start
        a presence fan-out, and the first pair would run on unseen."""
        task = self._owning.get(session_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._own(session_id))
            self._owning[session_id] = task
            task.add_done_callback(lambda done: self._owned_done(session_id, done))
        return task

    def _owned_done(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._owning.get(session_id) is task:
            del self._owning[session_id]

    async def _own(self, session_id: str) -> None:
        hub = self.runtime.hubs.get(session_id)
        if hub is None or session_id in self.owned:
            return
        try:
            owned = OwnedSession(self.node, hub, lambda op, args: self._answer(hub, op, args))
            await owned.start()  # listening before the lease says where the session is
            if not await self.node.renew(session_id):  # renew: takes a free lease, keeps this process's
                await self._lost(session_id)  # another process took it over while Redis was out of reach here
                return
            self.owned[session_id] = owned
            fanout = PresenceFanout(self.node, session_id, hub.presence, lambda: _owner_local(hub))
            self.fanouts[session_id] = fanout
            await fanout.start()
            code_left = int(JOIN_CODE_TTL_S - (time.monotonic() - hub.session.created))
            if code_left > 0:  # a restored session's code keeps its first expiry
                await self.redis.client.set(code_key(hub.session.join_code), session_id, ex=code_left)
        except REDIS_ERRORS as exc:
            self.redis.failed(exc)
            log.error("session %s: could not announce it in Redis (%s); its clients here are served", session_id,
                      exc)

    def _answer(self, hub: SessionHub, op: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if op in UPLOAD_OPS:
            return answer_upload_call(hub, op, args)
        status, body = answer_call(self.runtime.registry, hub.session, op, args)
        if status == 200 and op in ("join", "invite"):
            self.runtime.saved_soon(hub.session.id)  # the member survives this process
        return status, body

    async def hub_for(self, session_id: str) -> ClientHub | None:
        """The hub that serves ``session_id`` here: this process's, an edge, or a session taken over; None when
        no process serves it and Redis has no snapshot of it (or Redis is down)."""
        local = self.runtime.hubs.get(session_id)
        if local is not None:
            return local
        lock, users = self._locks.get(session_id, (asyncio.Lock(), 0))
        self._locks[session_id] = (lock, users + 1)
        try:
            async with lock:
                return await self._find(session_id)
        finally:
            lock, users = self._locks[session_id]
            if users == 1:
                del self._locks[session_id]  # ids asked for once (or made up) leave nothing behind
            else:
                self._locks[session_id] = (lock, users - 1)

    async def _find(self, session_id: str) -> ClientHub | None:
        local = self.runtime.hubs.get(session_id)
        if local is not None:
            return local
        edge = self.edges.get(session_id)
        if edge is not None:
            return edge
        if not self.redis.up:
            return None
        try:
            holder = await self.node.holder(session_id)
            if holder is not None and holder != self.node.server_id:
                return await self._edge(session_id, holder)
            return await self._take(session_id)
        except REDIS_ERRORS as exc:
            self.redis.failed(exc)
            return None

    async def session_of_code(self, code: str) -> str | None:
        """The id of the session whose join code is ``code`` (any process's)."""
        try:
            found = await self.redis.client.get(code_key(code))
        except REDIS_ERRORS as exc:
            self.redis.failed(exc)
            return None
        return None if found is None else _text(found)

    async def _take(self, session_id: str) -> SessionHub | None:
        """Take the free lease of ``session_id`` and restore it from its snapshot here."""
        text = await self.redis.client.get(snapshot_key(session_id))
        if text is None or not await self.node.acquire(session_id):
            return None
        snapshot = None
        if text is not None:
            try:
                snapshot = decode(text)
            except SnapshotError as exc:
                log.warning("session %s: its snapshot cannot be read: %s", session_id, exc)
        session = await self.runtime._restore(snapshot) if snapshot is not None else None
        if session is None:
            await self.node.release(session_id)
            return None
        log.info("session %s taken over here (its lease was free)", session_id)
        await asyncio.shield(self._own_soon(session_id))
        return self.runtime.hubs.get(session_id)

    async def _edge(self, session_id: str, owner_id: str) -> EdgeHub:
        edge = EdgeHub(self.node, self.requests, session_id, owner_id)
        edge.start()
        self.edges[session_id] = edge
        self._idle[session_id] = 0
        fanout = PresenceFanout(self.node, session_id, edge.presence,
                                lambda: {c: edge.peers.get(c, PeerMeta(None, "", "")) for c in edge.links},
                                edge.peers_changed)
        self.fanouts[session_id] = fanout
        await fanout.start()
        return edge

    async def _drop_edge(self, session_id: str) -> None:
        edge = self.edges.pop(session_id, None)
        self._idle.pop(session_id, None)
        self._vacant.pop(session_id, None)
        fanout = self.fanouts.pop(session_id, None)
        if edge is not None:
            edge.closed = True
            await edge.stop()
        if fanout is not None:
            await fanout.stop()

    # --- HTTP calls for sessions owned elsewhere ---

    async def call(self, session_id: str, op: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Forward an HTTP call to the owner of ``session_id``: (status, body)."""
        try:
            head = await self.requests.ask(session_id, Kind.CALL, {"op": op, "args": args})
        except NoReplyError as exc:
            return 503, {"detail": str(exc)}
        status, body = head.get("status"), head.get("body")
        if not isinstance(status, int) or not isinstance(body, dict):
            return 502, {"detail": "the session's server answered something else"}
        return status, body

    # --- what arrives ---

    def _late_reply(self, head: dict[str, Any]) -> None:
        """The owner accepted a connect after the edge had turned its client away (1013): it leaves again there."""
        client_id, session_id, conn = head.get("client_id"), head.get("sid"), head.get("conn")
        if head.get("ok") is True and isinstance(client_id, str) and isinstance(session_id, str):
            left = {"client": client_id, "conn": conn, "edge": self.node.server_id}
            self.node.publish(f"vz:in:{session_id}", encode_message(Kind.DISCONNECT, left))

    def _edge_heard(self, data: bytes) -> None:
        try:
            message = decode_message(data)
            if message.kind is Kind.REPLY:
                self.requests.replied(message)
            elif message.kind is Kind.BATCH:
                batch = decode_batch(message)
                edge = self.edges.get(batch.session_id)
                if edge is not None:
                    edge.deliver(batch)
        except BusWireError as exc:
            log.warning("redis: bad message on this server's channel: %s", exc)

    def _redis_back(self) -> None:
        """Redis answers again: what the owners sent meanwhile is lost, so the clients of edges reconnect and
        resume (they get the session as it is now); the owners' own clients never noticed."""
        for edge in self.edges.values():
            edge.close_all(SERVICE_RESTART, "the link to the session's server was down; reconnect")
        for session_id, hub in self.runtime.hubs.items():
            if session_id not in self.owned and session_id not in self._owning:  # made (or failed to announce)
                self.opened(hub)                                                  # while Redis was down

    # --- every heartbeat ---

    async def _tick(self) -> None:
        for session_id, owned in list(self.owned.items()):
            if self.runtime.hubs.get(session_id) is not owned.hub or owned.hub.session.ended:
                await self._let_go(session_id)  # ended, or forgotten when idle: nobody owns it any more
        owned_ids = list(self.owned)
        for session_id, renewed in zip(owned_ids, await self.node.renew_all(owned_ids), strict=True):
            still = self.owned.get(session_id)
            if still is not None and not still.tick(renewed):
                await self._lost(session_id)
        edge_ids = list(self.edges)
        for session_id, holder in zip(edge_ids, await self.node.holders(edge_ids), strict=True):
            edge = self.edges.get(session_id)
            if edge is None:
                continue
            vacant = self._vacant.pop(session_id, 0) + 1 if holder is None else 0
            if holder == edge.owner_id or 0 < vacant < VACANT_BEATS:
                if vacant:
                    self._vacant[session_id] = vacant  # a loaded owner may renew late: not dead yet
                idle = self._idle.get(session_id, 0) + 1 if not edge.links and not edge.connecting else 0
                self._idle[session_id] = idle
                if idle >= EDGE_IDLE_TICKS:
                    await self._drop_edge(session_id)
                continue
            log.warning("session %s: its server %s is gone or replaced (%s); clients here reconnect", session_id,
                        edge.owner_id, holder)
            edge.close_all(SERVICE_RESTART, "the session moved to another server; reconnect")
            await self._drop_edge(session_id)
            if holder is None:
                await self.hub_for(session_id)  # take it over, so the clients find it here

    async def _let_go(self, session_id: str) -> None:
        owned = self.owned.pop(session_id)
        fanout = self.fanouts.pop(session_id, None)
        if fanout is not None:
            await fanout.stop()
        await owned.stop()  # unsubscribes and releases the lease

    async def _lost(self, session_id: str) -> None:
        """Another process holds this session's lease now: drop it here; its clients reconnect there."""
        log.error("session %s: its lease is another server's now; its clients here reconnect", session_id)
        self.owned.pop(session_id, None)
        fanout = self.fanouts.pop(session_id, None)
        if fanout is not None:
            await fanout.stop()
        await self.node.unsubscribe(f"vz:in:{session_id}")
        hub = self.runtime.hubs.pop(session_id, None)
        if hub is not None:
            hub.on_change = None
            for link in list(hub.links.values()):
                link.request_close(SERVICE_RESTART, "the session moved to another server; reconnect")
            await hub.stop()
        self.runtime.registry.forget(session_id)
        if self.runtime.saver is not None:
            self.runtime.saver.forget(session_id)  # a pending save would find it gone and delete its snapshot


def _owner_local(hub: SessionHub) -> dict[str, PeerMeta]:
    """The owner's own clients (not those of edges), for its roster."""
    local: dict[str, PeerMeta] = {}
    for client_id, link in hub.links.items():
        if not link.relays_presence:
            continue
        client = hub.session.clients.get(client_id)
        member = hub.session.member(client.token) if client is not None else None
        local[client_id] = PeerMeta(member.id, member.name, member.role) if member else PeerMeta(None, "", "")
    return local


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
