"""A session this process owns, as the other processes reach it (docs/architecture.md "Scale-out").

:class:`OwnedSession` listens on ``vz:in:{sid}``: a ``connect`` from an edge joins the hub as a
:class:`~vizserver.scale.remote_outbox.RemoteLink` (the reply, accepted or refused, goes out before
anything the hub sent that client), a ``message`` is decoded and given to the hub as the client's, a
``disconnect`` leaves, a ``call`` is an HTTP route forwarded by an edge. There is one
:class:`~vizserver.scale.remote_outbox.EdgeSender` per edge process. Each heartbeat renews the lease and
lets go of the clients of edges that are no longer alive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vizserver.protocol.message_base import CloseCode
from vizserver.protocol.messages import (
    ErrorMessage,
    Hello,
    ProtocolError,
    decode_client_message,
    encode_server_message,
)
from vizserver.protocol.outbox import OutboxOverflow
from vizserver.scale.bus_wire import BusMessage, BusWireError, Kind, decode_message, int_of, text_of
from vizserver.scale.cluster import ClusterNode, edge_channel, in_channel
from vizserver.scale.remote_outbox import EdgeSender, RemoteLink
from vizserver.scale.rpc import reply
from vizserver.sessions.session import Accepted
from vizserver.streaming.hub import SessionHub

log = logging.getLogger("vizserver.scale")

EDGE_MISSING_BEATS = 3
"""An edge missing from the live servers for this many heartbeats in a row is dead (one miss can be a Redis
that restarted before the edge announced itself again)."""

Call = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
"""An HTTP call forwarded by an edge: (op, args) -> (status, body)."""


class OwnedSession:
    def __init__(self, node: ClusterNode, hub: SessionHub, call: Call) -> None:
        self.node = node
        self.hub = hub
        self.session_id = hub.session.id
        self._call = call
        self.senders: dict[str, EdgeSender] = {}
        self.remote: dict[str, RemoteLink] = {}
        """Clients on other processes, by client id."""
        self._missing: dict[str, int] = {}

    async def start(self) -> None:
        self.hub.servers = lambda: self.node.urls
        await self.node.subscribe(in_channel(self.session_id), self.heard)

    async def stop(self) -> None:
        await self.node.unsubscribe(in_channel(self.session_id))
        await self.node.release(self.session_id)

    def tick(self, renewed: bool) -> bool:
        """After the heartbeat's lease renewal (``renewed`` False: the lease is another process's now, and so is
        the session: False is returned); drops the clients of dead edges."""
        if not renewed:
            return False
        for edge_id in list(self.senders):
            missing = self._missing.get(edge_id, 0) + 1 if edge_id not in self.node.live else 0
            self._missing[edge_id] = missing
            if missing < EDGE_MISSING_BEATS:
                continue
            del self._missing[edge_id]
            log.warning("session %s: server %s is gone; its clients leave", self.session_id, edge_id)
            for client_id, link in list(self.remote.items()):
                if link.remote_outbox.sender.edge_id == edge_id:
                    del self.remote[client_id]
                    self.hub.disconnect(client_id, link)
            del self.senders[edge_id]
        return True

    def heard(self, data: bytes) -> None:
        try:
            message = decode_message(data)
            if message.kind is Kind.CONNECT:
                self._connect(message)
            elif message.kind is Kind.MESSAGE:
                self._message(message)
            elif message.kind is Kind.DISCONNECT:
                self._disconnect(message)
            elif message.kind is Kind.CALL:
                self._answer(message)
        except BusWireError as exc:
            log.warning("session %s: bad message from another server: %s", self.session_id, exc)

    def _sender(self, edge_id: str) -> EdgeSender:
        sender = self.senders.get(edge_id)
        if sender is None:
            channel = edge_channel(edge_id)
            sender = EdgeSender(self.session_id, edge_id, lambda data, done: self.node.publish(channel, data, done))
            self.senders[edge_id] = sender
        return sender

    def _connect(self, message: BusMessage) -> None:
        edge, number = text_of(message.head, "edge"), int_of(message.head, "req")
        token, conn = text_of(message.head, "token"), text_of(message.head, "conn", 64)
        try:
            hello = decode_client_message(message.blobs[0]) if message.blobs else None
        except ProtocolError:
            hello = None
        if not isinstance(hello, Hello):
            reply(self.node, edge, number, {"ok": False, "code": int(CloseCode.NOT_HELLO), "reason": "bad hello"})
            return
        link = RemoteLink(sender=self._sender(edge))
        joined = self.hub.connect(token, hello, link)
        if not isinstance(joined, Accepted):
            reply(self.node, edge, number, {"ok": False, "code": joined.code, "reason": joined.reason})
            return
        link.remote_outbox.recipient = conn
        self.remote[joined.client_id] = link
        member = self.hub.session.member(token)
        reply(self.node, edge, number, {
            "ok": True, "client_id": joined.client_id, "role": joined.role, "resumed": joined.resumed,
            "sid": self.session_id, "conn": conn,
            "member": member.id if member is not None else None, "name": member.name if member is not None else "",
        })

    def _message(self, message: BusMessage) -> None:
        client_id = text_of(message.head, "client")
        link = self.remote.get(client_id)
        if link is None or not self._current(link, message) or not message.blobs:
            return
        try:
            decoded = decode_client_message(message.blobs[0])
        except ProtocolError as exc:  # the edge checked it: only a version mismatch between servers gets here
            try:
                link.outbox.put_control(encode_server_message(ErrorMessage.of(exc)))
            except OutboxOverflow:
                link.request_close(int(CloseCode.TOO_SLOW), "client too slow")
            return
        self.hub.receive(client_id, decoded)

    def _disconnect(self, message: BusMessage) -> None:
        client_id = text_of(message.head, "client")
        link = self.remote.get(client_id)
        if link is None or not self._current(link, message):
            return  # a resumed connection (on this edge or another) replaced it
        del self.remote[client_id]
        self.hub.disconnect(client_id, link)

    @staticmethod
    def _current(link: RemoteLink, message: BusMessage) -> bool:
        """Whether ``message`` comes from the connection ``link`` stands for (not an older one of its client)."""
        outbox = link.remote_outbox
        return outbox.sender.edge_id == message.head.get("edge") and outbox.recipient == message.head.get("conn")

    def _answer(self, message: BusMessage) -> None:
        edge, number = text_of(message.head, "edge"), int_of(message.head, "req")
        op = text_of(message.head, "op")
        args = message.head.get("args")
        status, body = self._call(op, args if isinstance(args, dict) else {})
        if message.head.get("noreply") is not True:  # upload progress: nobody waits for an answer
            reply(self.node, edge, number, {"status": status, "body": body})
