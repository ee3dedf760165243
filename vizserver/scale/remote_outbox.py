"""The owner's side of clients connected to other processes: what the hub puts for them crosses Redis once per edge.

A client of an edge is a :class:`RemoteLink` in the owner's :class:`~vizserver.streaming.hub.SessionHub`;
its outbox is a :class:`RemoteOutbox`, which hands everything to the :class:`EdgeSender` of its edge. The
sender gathers, per loop turn, the texts (one entry per text, with every recipient of that edge: a
broadcast is one entry), the newest frame pair per stream with its recipients, and the keyframe and
close requests, and publishes them as one :class:`~vizserver.scale.bus_wire.EdgeBatch`. One batch is in
flight per edge at a time; while it is, the next one gathers. So a slow Redis costs at most the newest
pair per stream and ``control_limit`` texts per edge; past that, ``put_control`` raises
:class:`~vizserver.protocol.outbox.OutboxOverflow` and the hub closes that client with 4008, as it does
for a slow local client. The client's real outbox (latest wins, keyframe or delta) lives on its edge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from vizserver.config import OUTBOX_CONTROL_LIMIT
from vizserver.protocol.field_encoder import FramePair
from vizserver.protocol.outbox import Outbox, OutboxOverflow
from vizserver.scale.bus_wire import EdgeBatch, encode_batch
from vizserver.streaming.hub import ClientLink

log = logging.getLogger("vizserver.scale")

GOING_AWAY = 1001
SERVICE_RESTART = 1012

Publish = Callable[[bytes, Callable[[bool], None]], None]
"""Publish a message to the edge's channel; the callback is told (on the loop) whether it went out."""


class EdgeSender:
    """Everything one owned session sends one edge process, gathered per loop turn, one batch in flight."""

    def __init__(self, session_id: str, edge_id: str, publish: Publish, *,
                 control_limit: int = OUTBOX_CONTROL_LIMIT,
                 schedule: Callable[[Callable[[], None]], object] | None = None) -> None:
        self.session_id = session_id
        self.edge_id = edge_id
        self.control_limit = control_limit
        self._publish = publish
        self._schedule = schedule
        self._texts: list[tuple[str, list[RemoteOutbox]]] = []
        self._frames: dict[tuple[int, int], tuple[FramePair, list[RemoteOutbox]]] = {}
        self._keyframes: list[tuple[RemoteOutbox, tuple[int, int]]] = []
        self._closes: list[tuple[RemoteOutbox, int, str]] = []
        self._scheduled = False
        self._in_flight = False
        self.batches = 0
        self.failed = 0
        self.dropped_frames = 0

    @property
    def waiting(self) -> tuple[int, int]:
        """(texts, frame streams) gathered and not yet published."""
        return (len(self._texts), len(self._frames))

    def put_text(self, outbox: RemoteOutbox, text: str) -> None:
        if self._texts and self._texts[-1][0] is text:  # a broadcast: one entry, every recipient
            self._texts[-1][1].append(outbox)
        else:
            if len(self._texts) >= self.control_limit:
                raise OutboxOverflow(f"edge {self.edge_id} too slow: {len(self._texts)} control messages waiting "
                                     f"(limit {self.control_limit})")
            self._texts.append((text, [outbox]))
        self._wake()

    def put_frames(self, outbox: RemoteOutbox, pair: FramePair) -> None:
        """The newest pair of a stream replaces an unsent older one; its recipients keep waiting for the newer."""
        waiting = self._frames.get(pair.key)
        if waiting is None:
            self._frames[pair.key] = (pair, [outbox])
        elif waiting[0] is pair:
            waiting[1].append(outbox)
        else:
            self.dropped_frames += 1
            recipients = waiting[1] if outbox in waiting[1] else [*waiting[1], outbox]
            self._frames[pair.key] = (pair, recipients)
        self._wake()

    def request_keyframe(self, outbox: RemoteOutbox, key: tuple[int, int]) -> None:
        self._keyframes.append((outbox, key))
        self._wake()

    def close(self, outbox: RemoteOutbox, code: int, reason: str) -> None:
        self._closes.append((outbox, code, reason))
        self._wake()

    def take(self) -> EdgeBatch:
        """What has gathered, as a batch: recipients by the edge's connection id (outboxes without one yet are
        left out)."""
        batch = EdgeBatch(self.session_id)
        batch.texts = [(text, ids) for text, to in self._texts if (ids := _ids(to))]
        batch.frames = [(pair, ids) for pair, to in self._frames.values() if (ids := _ids(to))]
        batch.keyframes = [(o.recipient, key) for o, key in self._keyframes if o.recipient is not None]
        batch.closes = [(o.recipient, code, reason) for o, code, reason in self._closes if o.recipient is not None]
        self._texts, self._frames, self._keyframes, self._closes = [], {}, [], []
        return batch

    def flush(self) -> None:
        """Publish what has gathered, unless a batch is still in flight (then its completion flushes)."""
        self._scheduled = False
        if self._in_flight:
            return
        batch = self.take()
        if not batch:
            return
        self._in_flight = True
        self.batches += 1
        self._publish(encode_batch(batch), self._published)

    def _published(self, ok: bool) -> None:
        self._in_flight = False
        if not ok:
            self.failed += 1
        if self._texts or self._frames or self._keyframes or self._closes:
            self._wake()

    def _wake(self) -> None:
        if self._scheduled or self._in_flight:
            return
        self._scheduled = True
        if self._schedule is not None:
            self._schedule(self.flush)
        else:
            asyncio.get_running_loop().call_soon(self.flush)


def _ids(outboxes: list[RemoteOutbox]) -> tuple[str, ...]:
    return tuple(o.recipient for o in outboxes if o.recipient is not None)


class RemoteOutbox(Outbox):
    """A remote client's outbox on the owner: the same interface as :class:`Outbox`, but what is put is
    handed to its edge's :class:`EdgeSender` (nothing waits here; ``pop`` has nothing)."""

    def __init__(self, sender: EdgeSender) -> None:
        super().__init__(control_limit=sender.control_limit)
        self.sender = sender
        self.recipient: str | None = None
        """What the edge calls this connection (its connection id there: a resumed client's new connection is
        another one); set once the hub has accepted the client (what is put before goes once it is set)."""
        self.closed = False

    def put_control(self, text: str) -> None:
        if not self.closed:
            self.sender.put_text(self, text)

    def put_frames(self, pair: FramePair) -> None:
        if not self.closed:
            self.sender.put_frames(self, pair)

    def request_keyframe(self, key: tuple[int, int]) -> None:
        self.sender.request_keyframe(self, key)

    def pop(self) -> str | bytes | None:
        return None


@dataclass(slots=True)
class RemoteLink(ClientLink):
    """A client of another process as the owner's hub sees it. Its presence is relayed by its own process."""

    relays_presence: ClassVar[bool] = False
    sender: EdgeSender | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        assert self.sender is not None, "a RemoteLink needs the EdgeSender of its edge"
        self.outbox = RemoteOutbox(self.sender)

    @property
    def remote_outbox(self) -> RemoteOutbox:
        assert isinstance(self.outbox, RemoteOutbox)
        return self.outbox

    def request_close(self, code: int, reason: str) -> None:
        if self.close_request is not None:
            return
        if code == GOING_AWAY:  # the owner stops, not the client's server: it reconnects, and resumes elsewhere
            code, reason = SERVICE_RESTART, "the session's server is shutting down; reconnect"
        self.close_request = (code, reason)
        outbox = self.remote_outbox
        outbox.sender.close(outbox, code, reason)
        outbox.closed = True  # nothing more is sent after the close request

    def put_presence(self, batch: bytes) -> None:
        return
