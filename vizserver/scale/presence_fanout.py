"""Presence across server processes: each process tells the others where its clients are, on ``vz:presence:{sid}``.

Every ``PRESENCE_TICK_S`` a process publishes one :data:`~vizserver.scale.bus_wire.POSES` message with
the latest pose of each of its clients that moved since the last one (the bodies it checked, not
decoded again), and at least every ``ROSTER_EVERY_S``, or at once when its clients change, a
:data:`~vizserver.scale.bus_wire.ROSTER`: who its clients are (member, name, role). A process feeds the
poses it hears into its own :class:`~vizserver.sessions.presence.PresenceBoard` (slots are per process)
and tells ``on_peers`` which clients of other processes came or went; a process not heard of for
``ROSTER_TTL_S`` is taken to be gone with its clients. A process heard of for the first time gets every
client's latest pose once (a client standing still sends none), and while no other process has clients
of the session, poses are not published at all. The owner passes no ``on_peers``: every client
of its session is already on its board, since each one joined its hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from vizserver.scale.bus_wire import BusWireError, Kind, decode_message, decode_poses, encode_message, encode_poses
from vizserver.scale.cluster import ClusterNode, presence_channel
from vizserver.scale.edge import PeerMeta
from vizserver.sessions.presence import PRESENCE_TICK_S, PresenceBoard

log = logging.getLogger("vizserver.scale")

ROSTER_EVERY_S = 1.0
ROSTER_TTL_S = 3.5
"""A process whose roster has not been heard for this long is gone, and its clients with it."""

OnPeers = Callable[[dict[str, PeerMeta], list[str]], None]


class PresenceFanout:
    def __init__(self, node: ClusterNode, session_id: str, board: PresenceBoard,
                 local: Callable[[], dict[str, PeerMeta]], on_peers: OnPeers | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.session_id = session_id
        self.board = board
        self._local = local
        self._on_peers = on_peers
        self._clock = clock
        self._channel = presence_channel(session_id)
        self._sent: dict[str, bytes] = {}
        self._roster: dict[str, PeerMeta] = {}
        self._roster_at = -float("inf")
        self._heard: dict[str, tuple[float, dict[str, PeerMeta]]] = {}
        """Other processes' clients, by server id, and when their roster was last heard."""
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    async def start(self) -> None:
        await self.node.subscribe(self._channel, self.heard)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"presence fanout {self.session_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.node.unsubscribe(self._channel)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + PRESENCE_TICK_S, loop.time())
            await asyncio.sleep(due - loop.time())
            self.tick()

    def tick(self) -> None:
        now = self._clock()
        local = self._local()
        moved: list[tuple[str, bytes]] = []
        for client_id in local:
            entry = self.board.latest(client_id)
            if entry is not None and self._sent.get(client_id) is not entry:
                self._sent[client_id] = entry
                moved.append((client_id, entry[1:]))
        for gone in [c for c in self._sent if c not in local]:
            del self._sent[gone]
        if moved and self._heard:  # no other process has this session's clients: nobody to tell
            self.node.publish(self._channel, encode_poses(self.node.server_id, self.session_id, moved))
            self.published += 1
        if local != self._roster or now - self._roster_at >= ROSTER_EVERY_S:
            self._roster, self._roster_at = dict(local), now
            listed = {cid: [m.member, m.name, m.role] for cid, m in local.items()}
            self.node.publish(self._channel, encode_message(Kind.ROSTER, {"server": self.node.server_id,
                                                                          "clients": listed}))
        for server_id in [s for s, (at, _) in self._heard.items() if now - at > ROSTER_TTL_S]:
            _, clients = self._heard.pop(server_id)
            self._tell({}, list(clients))

    def heard(self, data: bytes) -> None:
        try:
            message = decode_message(data)
            server_id = message.head.get("server")
            if not isinstance(server_id, str) or server_id == self.node.server_id:
                return
            if message.kind is Kind.POSES:
                now = self._clock()
                for client_id, body in decode_poses(message):
                    self.board.update(client_id, body, now)
            elif message.kind is Kind.ROSTER:
                self._roster_heard(server_id, message.head.get("clients"))
        except BusWireError as exc:
            log.warning("session %s: bad presence message: %s", self.session_id, exc)

    def _roster_heard(self, server_id: str, clients: Any) -> None:
        if not isinstance(clients, dict):
            raise BusWireError("roster: clients is not an object")
        listed: dict[str, PeerMeta] = {}
        for client_id, meta in clients.items():
            if not (isinstance(meta, list) and len(meta) == 3 and all(isinstance(v, str | None) for v in meta)):
                raise BusWireError("roster: a client is not [member, name, role]")
            listed[client_id] = PeerMeta(meta[0], meta[1] or "", meta[2] or "")
        if server_id not in self._heard:
            self._sent.clear()  # a process new to this session: it hears every client's latest pose once
        _, before = self._heard.get(server_id, (0.0, {}))
        self._heard[server_id] = (self._clock(), listed)
        joined = {c: m for c, m in listed.items() if before.get(c) != m}
        left = [c for c in before if c not in listed]
        self._tell(joined, left)

    def forget_all(self) -> None:
        """Every other process's clients leave this board (the session is going away here)."""
        for _, clients in self._heard.values():
            self._tell({}, list(clients))
        self._heard.clear()

    def _tell(self, joined: dict[str, PeerMeta], left: list[str]) -> None:
        if self._on_peers is not None and (joined or left):
            self._on_peers(joined, left)
