"""A session another process owns, seen from this one: its clients here, relayed (docs/architecture.md "Scale-out").

:class:`EdgeHub` is what the WebSocket transport talks to for such a session (it has the
:class:`~vizserver.streaming.hub.ClientHub` interface of a local hub). Each client here keeps a real
:class:`~vizserver.protocol.outbox.Outbox` (latest wins, keyframe or delta per client); what the owner
sends arrives as one :class:`~vizserver.scale.bus_wire.EdgeBatch` per loop turn and is put into the
named recipients' outboxes (the same bytes for all). A client's messages are checked here (the
transport decodes them) and forwarded to the owner on ``vz:in:{sid}``. Presence is this process's:
its board holds its own clients and those the other processes announce (presence_fanout.py), with
slots of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from vizserver.protocol.messages import (
    ClientMsg,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    Hello,
    encode_client_message,
    encode_server_message,
)
from vizserver.protocol.outbox import OutboxOverflow
from vizserver.protocol.presence import PeerInfo, PresencePeers, check_pose_message
from vizserver.scale.bus_wire import EdgeBatch, Kind, encode_message
from vizserver.scale.cluster import ClusterNode, in_channel
from vizserver.scale.rpc import NoReplyError, Requests
from vizserver.sessions.presence import PRESENCE_TICK_S, PresenceBoard
from vizserver.sessions.roles import ACTIVE
from vizserver.sessions.session import Accepted, Refused
from vizserver.streaming.hub import ClientLink

log = logging.getLogger("vizserver.scale")

SERVICE_RESTART = 1012
"""Close code: the session moved to another server process; reconnect and resume (docs/protocol.md)."""
TRY_AGAIN_LATER = 1013
"""Close code: the session's server did not answer; try again."""
DENIAL_QUIET_S = 1.0
MEMBERS_PREFIX = '{"type":"members"'
"""How a ``members`` text starts (its ``type`` is its first field): an edge reads roles from it."""


@dataclass(frozen=True, slots=True)
class PeerMeta:
    """Who a client is, for ``presence_peers``."""

    member: str | None
    name: str
    role: str


class EdgeHub:
    def __init__(self, node: ClusterNode, requests: Requests, session_id: str, owner_id: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.session_id = session_id
        self.owner_id = owner_id
        self._requests = requests
        self._clock = clock
        self.links: dict[str, ClientLink] = {}
        """This process's clients of the session, by client id (the newest connection of each)."""
        self.conns: dict[str, ClientLink] = {}
        """The same connections by the id the owner addresses them with (a resumed client's new connection has a
        new one, so what the owner sends the replaced connection, its close, never reaches the new one)."""
        self._numbers = itertools.count(1)
        self._conn_of: dict[int, str] = {}
        self.peers: dict[str, PeerMeta] = {}
        """Every client on the board: this process's and the other processes' (presence_fanout.py)."""
        self.presence = PresenceBoard()
        self._denied_at: dict[str, float] = {}
        self._relay: asyncio.Task[None] | None = None
        self.connecting = 0
        """Clients waiting for the owner's answer to their hello."""
        self.closed = False
        """The session moved away: a connect answered after that is turned away (1012)."""

    def start(self) -> None:
        self._relay = asyncio.get_running_loop().create_task(self._relay_presence(),
                                                             name=f"edge presence {self.session_id}")

    async def stop(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay

    def close_all(self, code: int, reason: str) -> None:
        for link in list(self.links.values()):
            link.request_close(code, reason)

    # --- what the transport reports ---

    def knows(self, token: str) -> bool:
        return True  # the owner checks the token when the client says hello

    async def accept(self, token: str, hello: Hello, link: ClientLink) -> Accepted | Refused:
        accepted: list[Accepted] = []
        conn = str(next(self._numbers))

        def on_reply(head: dict[str, object]) -> None:  # runs before the owner's first batch to this client
            client_id, role = head.get("client_id"), head.get("role")
            if head.get("ok") is not True or not isinstance(client_id, str) or not isinstance(role, str):
                return
            member, name = head.get("member"), head.get("name")
            self.links[client_id] = link
            self.conns[conn] = link
            self._conn_of[id(link)] = conn
            self.peers[client_id] = PeerMeta(member if isinstance(member, str) else None,
                                             name if isinstance(name, str) else "", role)
            accepted.append(Accepted(client_id, role, bool(head.get("resumed"))))  # type: ignore[arg-type]
            self._presence_joined(client_id)

        self.connecting += 1
        try:
            head = await self._requests.ask(self.session_id, Kind.CONNECT, {"token": token, "conn": conn},
                                            (encode_client_message(hello).encode(),), on_reply)
        except NoReplyError as exc:
            return Refused(TRY_AGAIN_LATER, str(exc))
        finally:
            self.connecting -= 1
        if accepted and self.closed:  # the edge was dropped while the owner answered: the client goes elsewhere
            self.disconnect(accepted[0].client_id, link)
            return Refused(SERVICE_RESTART, "the session moved to another server; reconnect")
        if accepted:
            return accepted[0]
        code, reason = head.get("code"), head.get("reason")
        return Refused(code if isinstance(code, int) else int(CloseCode.UNKNOWN_SESSION),
                       reason if isinstance(reason, str) else "refused")

    def receive(self, client_id: str, message: ClientMsg) -> None:
        link = self.links.get(client_id)
        if link is None:
            return
        head = {"client": client_id, "conn": self._conn_of.get(id(link)), "edge": self.node.server_id}
        self.node.publish(in_channel(self.session_id),
                          encode_message(Kind.MESSAGE, head, (encode_client_message(message).encode(),)))

    def receive_presence(self, client_id: str, data: bytes) -> None:
        """Checked here like the owner would; an observer's is refused (said once a second)."""
        meta = self.peers.get(client_id)
        if meta is None:
            return
        if meta.role not in ACTIVE:
            now = self._clock()
            if now - self._denied_at.get(client_id, -1e9) >= DENIAL_QUIET_S:
                self._denied_at[client_id] = now
                self._put(client_id, encode_server_message(ErrorMessage(
                    code=ErrorCode.FORBIDDEN, message=f"a {meta.role} may not send presence")))
            return
        self.presence.update(client_id, check_pose_message(data), self._clock())

    def disconnect(self, client_id: str, link: ClientLink) -> None:
        conn = self._conn_of.pop(id(link), None)
        if conn is not None:
            self.conns.pop(conn, None)
        if self.links.get(client_id) is not link:
            return  # a newer connection of this client replaced it
        del self.links[client_id]
        self._denied_at.pop(client_id, None)
        head = {"client": client_id, "conn": conn, "edge": self.node.server_id}
        self.node.publish(in_channel(self.session_id), encode_message(Kind.DISCONNECT, head))
        self.peers.pop(client_id, None)
        self._presence_left(client_id)

    # --- what the owner sends ---

    def deliver(self, batch: EdgeBatch) -> None:
        for text, to in batch.texts:
            if text.startswith(MEMBERS_PREFIX):
                self._roles_from(text)
            for conn in to:
                link = self.conns.get(conn)
                if link is not None:
                    _put(link, text)
        for pair, to in batch.frames:
            for conn in to:
                link = self.conns.get(conn)
                if link is not None:
                    link.outbox.put_frames(pair)
        for conn, key in batch.keyframes:
            link = self.conns.get(conn)
            if link is not None:
                link.outbox.request_keyframe(key)
        for conn, code, reason in batch.closes:
            link = self.conns.get(conn)
            if link is not None:
                link.request_close(code, reason)

    def _roles_from(self, text: str) -> None:
        """Keep this process's clients' roles as the owner's ``members`` says (a role can change mid-session)."""
        try:
            listed = json.loads(text).get("members")
            roles = {m["id"]: m["role"] for m in listed if isinstance(m, dict)}
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        for client_id in self.links:
            meta = self.peers.get(client_id)
            role = roles.get(meta.member) if meta is not None and meta.member is not None else None
            if meta is not None and isinstance(role, str) and role != meta.role:
                self.peers[client_id] = dataclasses.replace(meta, role=role)

    def _put(self, client_id: str, text: str) -> None:
        link = self.links.get(client_id)
        if link is not None:
            _put(link, text)

    # --- presence (this process's board) ---

    def peers_changed(self, joined: dict[str, PeerMeta], left: list[str]) -> None:
        """Clients of other processes came or went (presence_fanout.py)."""
        now = self._clock()
        slots = []
        for client_id in left:
            self.peers.pop(client_id, None)
            slot = self.presence.leave(client_id)
            if slot is not None:
                slots.append(slot)
        infos = []
        for client_id, meta in joined.items():
            if client_id in self.links:
                continue
            self.peers[client_id] = meta
            infos.append(self._peer(client_id, self.presence.join(client_id, now)))
        if infos or slots:
            self._tell_local(PresencePeers(full=False, peers=infos, left=slots).model_dump_json())

    def _presence_joined(self, client_id: str) -> None:
        slot = self.presence.join(client_id, self._clock())
        joined = PresencePeers(full=False, peers=[self._peer(client_id, slot)]).model_dump_json()
        everyone = PresencePeers(full=True, peers=[self._peer(c, s) for c, s in self.presence.slots().items()])
        for other in self.links:
            self._put(other, everyone.model_dump_json() if other == client_id else joined)

    def _presence_left(self, client_id: str) -> None:
        slot = self.presence.leave(client_id)
        if slot is not None:
            self._tell_local(PresencePeers(full=False, peers=[], left=[slot]).model_dump_json())

    def _tell_local(self, text: str) -> None:
        for client_id in list(self.links):
            self._put(client_id, text)

    def _peer(self, client_id: str, slot: int) -> PeerInfo:
        meta = self.peers.get(client_id)
        if meta is None:
            return PeerInfo(slot=slot, client_id=client_id)
        return PeerInfo(slot=slot, client_id=client_id, member=meta.member, name=meta.name, role=meta.role)

    def relay_presence(self) -> None:
        for client_id, link in self.links.items():
            if link.presence is None:
                batch = self.presence.batch(client_id)
                if batch is not None:
                    link.put_presence(batch)

    async def _relay_presence(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + PRESENCE_TICK_S, loop.time())
            await asyncio.sleep(due - loop.time())
            self.relay_presence()


def _put(link: ClientLink, text: str) -> None:
    try:
        link.outbox.put_control(text)
    except OutboxOverflow:
        link.request_close(int(CloseCode.TOO_SLOW), "client too slow")
