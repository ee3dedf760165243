"""WebRTC <-> protocol: aiortc peer connections carrying the WebSocket's protocol on two data channels.

The browser offers (``POST /api/rtc/offer``, :meth:`RtcPeers.offer`) with two data channels: ``control``
(ordered, reliable) carries exactly the WebSocket's text protocol, ``hello`` first, and ``fields``
(unordered, no retransmits) carries the server's binary messages (field frames, presence batches);
a client's binary presence may come on either. Each peer then runs like a WebSocket connection
(:mod:`vizserver.transports.websocket`): the same hub calls, the same outbox drained in the same
order. A message over the peer's maximum message size goes as pieces (:mod:`vizserver.protocol.fragments`).

Back-pressure: before each message the writer waits until the channel's ``bufferedAmount`` is at most
``BUFFER_LOW_BYTES``, so frames wait in the outbox (latest wins) rather than in aiortc; a channel that
does not drain within the stall timeout closes the peer with 4008, as the WebSocket does. Where a
WebSocket would close with a code, the server sends ``rtc_close {code, reason}`` on ``control`` and
closes the peer connection. Every peer ends in one teardown: the hub forgets the client, the video
view closes, the peer connection closes, and :class:`RtcPeers` forgets the peer.

With ``video: true`` the peer also sends a server-rendered view (a :class:`VideoView`): the client's
field frames colour the render instead of travelling on ``fields``, and its ``view_camera`` messages
move the view's camera instead of going to the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamTrack

from vizserver.config import MAX_CONTROL_MESSAGE_BYTES
from vizserver.errors import VizServerError
from vizserver.protocol.fragments import split_message
from vizserver.protocol.messages import (
    CloseCode,
    ErrorCode,
    ErrorMessage,
    Hello,
    ProtocolError,
    encode_server_message,
)
from vizserver.protocol.outbox import OutboxOverflow
from vizserver.protocol.presence import is_presence
from vizserver.sessions.session import Refused
from vizserver.streaming.hub import ClientHub, ClientLink, SessionHub
from vizserver.transports.client_input import ClientInput, HelloRefused, check_first_message
from vizserver.transports.rtc_config import (
    MIN_PEER_MESSAGE_BYTES,
    IceServer,
    media_kinds,
    remote_max_message_bytes,
)
from vizserver.transports.websocket import HELLO_TIMEOUT_S

log = logging.getLogger("vizserver.rtc")

CONTROL = "control"
FIELDS = "fields"

CONNECT_TIMEOUT_S = 30.0
"""An answered peer that has not opened both data channels within this long is closed."""

CLOSE_TIMEOUT_S = 1.0
"""How long a closing peer waits for its ``rtc_close`` to leave before the connection closes."""

SHUTDOWN_TIMEOUT_S = 2.0
"""On shutdown, peers get this long to say ``rtc_close`` 1001 before they are cancelled."""

BUFFER_LOW_BYTES = 64 << 10
"""A channel takes the next message only while at most this much is waiting in aiortc's send buffer."""

INBOX_LIMIT = 256
"""Messages from one peer waiting for the reader; more means the client floods: closed with 4003."""

PEER_ID_BYTES = 9

T = TypeVar("T")


class VideoView(Protocol):
    """A server-rendered view of the session for one peer (:class:`vizserver.transports.video.VideoView`).

    Its methods are called on the event loop and must not block: rendering runs elsewhere.
    """

    @property
    def track(self) -> MediaStreamTrack: ...

    def take_frame(self, data: bytes) -> None:
        """A field frame (``VZF1``) the peer's outbox produced, for the render's colours."""

    def set_camera(self, message: Mapping[str, Any]) -> object:
        """A ``view_camera`` control message from the client (parsed JSON, at most 64 KiB); ProtocolError if bad."""

    def close(self) -> Awaitable[None] | None:
        """Stop rendering and free the renderer."""


VideoFactory = Callable[[SessionHub, str], VideoView]
"""Makes the video view of client ``client_id`` (known once the peer has said ``hello``) of a session's hub."""


class RtcOfferError(VizServerError):
    """An offer the server will not answer; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RtcAnswer:
    sdp: str
    type: str
    peer_id: str


class RtcPeers:
    """Every live peer connection of one server, and the limits on them."""

    def __init__(
        self,
        ice_servers: tuple[IceServer, ...],
        stall_timeout_s: float,
        max_per_member: int,
        max_peers: int,
        video_factory: VideoFactory | None = None,
    ) -> None:
        self.ice_servers = ice_servers
        self.stall_timeout_s = stall_timeout_s
        self.max_per_member = max_per_member
        self.max_peers = max_peers
        self.video_factory = video_factory
        self.peers: dict[str, RtcPeer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self.peers)

    async def offer(self, hub: ClientHub | None, token: str, sdp: str, video: bool) -> RtcAnswer:
        """Answer a browser's offer and start serving the peer; :class:`RtcOfferError` when refused."""
        if hub is None or not hub.knows(token):
            raise RtcOfferError(404, "unknown session or bad token")
        if len(self.peers) >= self.max_peers:
            raise RtcOfferError(429, f"the server holds {len(self.peers)} WebRTC peer connections (its limit)")
        held = sum(1 for p in self.peers.values() if p.token == token)
        if held >= self.max_per_member:
            raise RtcOfferError(
                429, f"this member already holds {held} WebRTC peer connections (limit {self.max_per_member})"
            )
        kinds = media_kinds(sdp)
        if not sdp.startswith("v=0"):
            raise RtcOfferError(400, "sdp: not a session description (it must start with v=0)")
        max_message_bytes = remote_max_message_bytes(sdp)
        if max_message_bytes < MIN_PEER_MESSAGE_BYTES:
            raise RtcOfferError(400, f"sdp: a=max-message-size:{max_message_bytes} is below {MIN_PEER_MESSAGE_BYTES}")
        if "application" not in kinds:
            raise RtcOfferError(400, "sdp: the offer has no data channels (create 'control' and 'fields' first)")
        if video and "video" not in kinds:
            raise RtcOfferError(400, "sdp: video was asked for but the offer has no video transceiver (recvonly)")
        if video and self.video_factory is None:
            raise RtcOfferError(503, "this server cannot render video (vizserver/transports/video.py is not available)")
        if video and not isinstance(hub, SessionHub):
            raise RtcOfferError(503, "video is rendered by the server process that owns the session; connect to it")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[_aiortc_ice_server(s) for s in self.ice_servers]))
        peer = RtcPeer(
            secrets.token_urlsafe(PEER_ID_BYTES), pc, hub, token, max_message_bytes,
            self.stall_timeout_s, self.video_factory if video else None,
        )
        self.peers[peer.peer_id] = peer  # counts against the limits from here on
        try:
            answer = await _answer(pc, sdp, video)
        except BaseException:
            self.peers.pop(peer.peer_id, None)
            await peer.teardown()
            raise
        task = asyncio.create_task(peer.run(), name=f"rtc {peer.peer_id}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._forget(peer.peer_id, t))
        return RtcAnswer(answer.sdp, answer.type, peer.peer_id)

    def _forget(self, peer_id: str, task: asyncio.Task[None]) -> None:
        self.peers.pop(peer_id, None)
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("WebRTC peer %s failed", peer_id, exc_info=task.exception())

    async def close(self) -> None:
        """Say 1001 to every peer, give them ``SHUTDOWN_TIMEOUT_S`` to go, then cancel what is left."""
        for peer in list(self.peers.values()):
            peer.request_close(int(CloseCode.GOING_AWAY), "server shutting down")
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


async def _answer(pc: RTCPeerConnection, sdp: str, video: bool) -> RTCSessionDescription:
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc's SDP parser raises many kinds of errors on hostile input
        raise RtcOfferError(400, f"sdp: cannot use the offer ({type(exc).__name__}: {exc})") from exc
    if video:  # answered as sending; the track comes after hello, once the view knows its client
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                transceiver.direction = "sendonly"
    await pc.setLocalDescription(await pc.createAnswer())
    local = pc.localDescription
    assert local is not None
    return local


def _aiortc_ice_server(server: IceServer) -> RTCIceServer:
    return RTCIceServer(urls=list(server.urls), username=server.username, credential=server.credential)


class RtcPeer:
    """One browser's peer connection, from the answer to the teardown (:meth:`run`)."""

    def __init__(
        self,
        peer_id: str,
        pc: RTCPeerConnection,
        hub: ClientHub,
        token: str,
        max_message_bytes: int,
        stall_timeout_s: float,
        video_factory: VideoFactory | None,
    ) -> None:
        self.peer_id = peer_id
        self.pc = pc
        self.hub = hub
        self.token = token
        self.max_message_bytes = max_message_bytes
        self.stall_timeout_s = stall_timeout_s
        self.video_factory = video_factory
        self.video: VideoView | None = None
        self.channels: dict[str, RTCDataChannel] = {}
        self.inbox: asyncio.Queue[str | bytes] = asyncio.Queue(INBOX_LIMIT)
        self.opened = asyncio.Event()
        self.ended = asyncio.Event()
        """The connection failed or closed, a channel closed, or the server ended the peer."""
        self.link: ClientLink | None = None
        self.client_id: str | None = None
        self._close_request: tuple[int, str] | None = None
        self._message_ids = {CONTROL: itertools.count(), FIELDS: itertools.count()}
        self._torn_down = False
        pc.on("datachannel", self._on_channel)
        pc.on("connectionstatechange", self._on_state)

    # --- aiortc's callbacks (on the loop) ---

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label not in (CONTROL, FIELDS) or channel.label in self.channels:
            log.info("peer %s: closed an unexpected data channel %r", self.peer_id, channel.label)
            channel.close()
            return
        self.channels[channel.label] = channel
        channel.on("message", self._on_message)
        channel.on("close", self.ended.set)
        if len(self.channels) == 2:
            self.opened.set()

    def _on_message(self, data: str | bytes) -> None:
        try:
            self.inbox.put_nowait(data)
        except asyncio.QueueFull:
            self.request_close(int(CloseCode.TOO_MANY_BAD_MESSAGES), "messages arrive faster than the server reads")

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self.ended.set()

    def request_close(self, code: int, reason: str) -> None:
        """End the peer, telling the client ``code`` (through the writer once it runs, else at once)."""
        if self.link is not None:
            self.link.request_close(code, reason)
        elif self._close_request is None:
            self._close_request = (code, reason)
            self.ended.set()

    # --- the peer's life ---

    async def run(self) -> None:
        try:
            await self._serve()
        finally:
            await self.teardown()

    async def _serve(self) -> None:
        if await self._first(self.opened.wait(), CONNECT_TIMEOUT_S) is None:
            return
        hello = await self._hello()
        if hello is None:
            return
        link = ClientLink()
        joined = await self.hub.accept(self.token, hello, link)
        if isinstance(joined, Refused):
            await self._close(joined.code, joined.reason)
            return
        self.link, self.client_id = link, joined.client_id
        if self._close_request is not None:
            link.request_close(*self._close_request)
        if self.video_factory is not None:
            self._start_video(joined.client_id, link)
        reader = asyncio.create_task(self._read(joined.client_id, link))
        writer = asyncio.create_task(self._write(link))
        ended = asyncio.create_task(self.ended.wait())
        try:
            done, _ = await asyncio.wait({reader, writer, ended}, return_when=asyncio.FIRST_COMPLETED)
            if writer not in done and link.close_request is not None and not self.ended.is_set():
                await asyncio.wait({writer, ended}, timeout=self.stall_timeout_s + CLOSE_TIMEOUT_S,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer, ended):
                task.cancel()
            for outcome in await asyncio.gather(reader, writer, ended, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.error("peer %s: %s", self.peer_id, outcome, exc_info=outcome)

    def _start_video(self, client_id: str, link: ClientLink) -> None:
        """Make the client's video view and send its track; if it cannot be made, say so and stream fields."""
        assert self.video_factory is not None and isinstance(self.hub, SessionHub)  # offer() checked both
        try:
            self.video = self.video_factory(self.hub, client_id)
        except (ImportError, ValueError, VizServerError) as exc:
            log.warning("peer %s: no video view: %s", self.peer_id, exc)
            with contextlib.suppress(OutboxOverflow):
                link.outbox.put_control(encode_server_message(
                    ErrorMessage(code="video_unavailable", message=f"no video view: {exc}"[:200])))
            return
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video":
                transceiver.sender.replaceTrack(self.video.track)

    async def teardown(self) -> None:
        """Forget the client in the hub, close the video view and the peer connection; once."""
        if self._torn_down:
            return
        self._torn_down = True
        self.ended.set()
        if self.link is not None and self.client_id is not None:
            self.hub.disconnect(self.client_id, self.link)
        if self.video is not None:
            try:
                closing = self.video.close()
                if closing is not None:
                    await closing
            except Exception:  # a renderer that fails to stop must not keep the peer connection open
                log.exception("peer %s: the video view failed to close", self.peer_id)
        await self.pc.close()

    async def _first(self, awaitable: Coroutine[Any, Any, T], timeout: float) -> T | None:
        """``awaitable``'s result, or None if the peer ends or ``timeout`` passes first."""
        task = asyncio.ensure_future(awaitable)
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            done, _ = await asyncio.wait({task, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            return task.result() if task in done else None
        finally:
            for pending in (task, ended):
                pending.cancel()
            await asyncio.gather(task, ended, return_exceptions=True)

    async def _hello(self) -> Hello | None:
        """The client's ``hello`` on ``control``, or None after closing the peer for what came instead."""
        first = await self._first(self.inbox.get(), HELLO_TIMEOUT_S)
        if first is None:
            if not self.ended.is_set():
                await self._close(int(CloseCode.NOT_HELLO), f"no hello within {HELLO_TIMEOUT_S:g} s")
            return None
        checked = check_first_message(first)
        if isinstance(checked, HelloRefused):
            if checked.error is not None:
                self._send_now(CONTROL, checked.error)
            await self._close(checked.code, checked.reason)
            return None
        return checked

    async def _read(self, client_id: str, link: ClientLink) -> None:
        messages = ClientInput(self.hub, client_id, link, divert=self._to_video)
        while messages.take(await self.inbox.get()):
            pass

    def _to_video(self, text: str) -> bool:
        """Give a ``view_camera`` message to the video view (True), or leave it to the session (False)."""
        if self.video is None or '"view_camera"' not in text or len(text) > MAX_CONTROL_MESSAGE_BYTES:
            return False
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return False
        if not isinstance(message, dict) or message.get("type") != "view_camera":
            return False
        try:
            self.video.set_camera(message)
        except ProtocolError:
            raise
        except (ValueError, TypeError, KeyError, VizServerError) as exc:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"view_camera: {exc}") from exc
        return True

    async def _write(self, link: ClientLink) -> None:
        """Drain the outbox onto the channels; close when asked (after what was queued, except for 4008)
        or when a channel stops draining."""
        while True:
            await link.ready.wait()
            link.ready.clear()
            request = link.close_request
            if request is not None and request[0] == CloseCode.TOO_SLOW:
                await self._close(*request)
                return
            while (item := link.pop()) is not None:
                if not await self._send(item):
                    if not self.ended.is_set():
                        log.warning("peer %s stopped reading for %.1f s: dropped", self.peer_id, self.stall_timeout_s)
                        await self._close(int(CloseCode.TOO_SLOW), "client too slow")
                    return
            if link.close_request is not None:
                await self._close(*link.close_request)
                return

    async def _send(self, item: str | bytes) -> bool:
        """Send one outbox item on its channel (False: the channel stalled or closed)."""
        if isinstance(item, str):
            label = CONTROL
        elif is_presence(item):
            label = FIELDS
        elif self.video is not None:
            self.video.take_frame(item)
            return True
        else:
            label = FIELDS
        channel = self.channels[label]
        for piece in self._pieces(label, item):
            if not await self._drained(channel, BUFFER_LOW_BYTES, self.stall_timeout_s):
                return False
            if not self._put(label, piece):
                return False
        return True

    def _pieces(self, label: str, item: str | bytes) -> list[str | bytes]:
        """``item`` whole when the peer takes it in one message, else its ``VZC1`` pieces."""
        if _size(item) <= self.max_message_bytes:
            return [item]
        return list(split_message(item, next(self._message_ids[label]), self.max_message_bytes))

    def _send_now(self, label: str, data: str | bytes) -> bool:
        """Send a small message (an error, ``rtc_close``) without waiting for the channel to drain."""
        return all(self._put(label, piece) for piece in self._pieces(label, data))

    def _put(self, label: str, data: str | bytes) -> bool:
        channel = self.channels.get(label)
        if channel is None or channel.readyState != "open":
            return False
        try:
            channel.send(data)
        except InvalidStateError:
            return False
        return True

    async def _drained(self, channel: RTCDataChannel, level: int, timeout: float) -> bool:
        """Whether at most ``level`` bytes wait in ``channel``'s buffer, waiting up to ``timeout`` for it."""
        if channel.bufferedAmount <= level:
            return True
        low = asyncio.Event()
        channel.bufferedAmountLowThreshold = level
        channel.on("bufferedamountlow", low.set)
        try:
            if channel.bufferedAmount <= level:
                return True
            return await self._first(low.wait(), timeout) is not None
        finally:
            channel.remove_listener("bufferedamountlow", low.set)

    async def _close(self, code: int, reason: str) -> None:
        """Tell the client why (``rtc_close`` on ``control``) and end the peer; the teardown closes it."""
        text = json.dumps({"type": "rtc_close", "code": code, "reason": reason[:120]})
        control = self.channels.get(CONTROL)
        if control is not None and self._send_now(CONTROL, text):
            await self._drained(control, 0, CLOSE_TIMEOUT_S)
        self.ended.set()


def _size(item: str | bytes) -> int:
    return len(item.encode("utf-8")) if isinstance(item, str) else len(item)
