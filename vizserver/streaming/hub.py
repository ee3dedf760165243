"""A live session: the pure :class:`Session`, its clients' outboxes, and its frame loop.

The hub turns what transports and uploads report into session events, and carries out the
effects: control messages into outboxes (encoded once per broadcast), keyframe requests, and kicks
for the :class:`Streamer`. Everything runs on the event loop; the streamer does CPU work in a
thread. A client whose control queue overflows is asked to close with 4008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from vizserver.protocol.messages import (
    ClientMsg,
    CloseCode,
    ErrorMessage,
    Hello,
    TwinAction,
    TwinControl,
    TwinParams,
    UploadStatus,
    Welcome,
    encode_server_message,
)
from vizserver.protocol.outbox import Outbox, OutboxOverflow
from vizserver.protocol.presence import PeerInfo, PresencePeers, check_pose_message
from vizserver.scenes.objects import StreamObject
from vizserver.sessions.presence import PRESENCE_TICK_S, PresenceBoard
from vizserver.sessions.session import (
    Accepted,
    AddObjects,
    Broadcast,
    Close,
    Connect,
    Delegate,
    Denied,
    Disconnect,
    Effect,
    Ended,
    Event,
    Keyframe,
    Received,
    Refused,
    Send,
    ServerMsg,
    Session,
    StreamsChanged,
    UploadProgress,
)
from vizserver.streaming.metrics import Counters
from vizserver.streaming.series import SeriesLoader
from vizserver.streaming.streamer import Streamer

if TYPE_CHECKING:
    from vizserver.streaming.twin import TwinController

log = logging.getLogger("vizserver.sessions")

CLIENT_ID_BYTES = 9
NORMAL_CLOSURE = 1000


@dataclass(slots=True)
class ClientLink:
    """What a transport shares with the hub for one connection: the outbox, a wake-up, a close request,
    and the presence batch waiting to be sent (one at most: the hub makes the next when it has gone)."""

    relays_presence: ClassVar[bool] = True
    """False for a client of another server process (``--redis``): its own process relays its presence."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: Outbox = field(init=False)
    close_request: tuple[int, str] | None = None
    presence: bytes | None = None

    def __post_init__(self) -> None:
        self.outbox = Outbox(on_ready=self.ready.set)

    def request_close(self, code: int, reason: str) -> None:
        if self.close_request is None:
            self.close_request = (code, reason)
        self.ready.set()

    def put_presence(self, batch: bytes) -> None:
        self.presence = batch
        self.ready.set()

    def pop(self) -> str | bytes | None:
        """The next message to send: control messages first (a ``presence_peers`` precedes the batches that
        name its slots), then the presence batch (small, and late is useless), then field frames."""
        if self.presence is not None and not self.outbox.depth[0]:
            batch, self.presence = self.presence, None
            return batch
        return self.outbox.pop()


class ClientHub(Protocol):
    """What a transport needs of a session: a local :class:`SessionHub`, or with ``--redis`` an edge of a
    session another process owns (:class:`vizserver.scale.edge.EdgeHub`)."""

    def knows(self, token: str) -> bool: ...

    async def accept(self, token: str, hello: Hello, link: ClientLink) -> Accepted | Refused: ...

    def receive(self, client_id: str, message: ClientMsg) -> None: ...

    def receive_presence(self, client_id: str, data: bytes) -> None: ...

    def disconnect(self, client_id: str, link: ClientLink) -> None: ...


class SessionHub:
    def __init__(
        self,
        session: Session,
        loader: SeriesLoader,
        counters: Counters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.links: dict[str, ClientLink] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._counters = counters
        self._clock = clock
        session.wall_offset = time.time() - clock()  # annotation times are wall-clock seconds
        self.streamer = Streamer(session, self._outboxes, loader, clock)
        self.twin: TwinController | None = None
        self.on_change: Callable[[], None] | None = None
        """Called after every event the session took (the runtime saves the session soon after)."""
        self.presence = PresenceBoard()
        self._task: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._relay: asyncio.Task[None] | None = None
        self.servers: Callable[[], list[str]] | None = None
        """With ``--redis``: the public URLs of the live server processes, for ``welcome.servers``."""

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self.streamer.run(), name=f"stream {self.session.id}")
        self._relay = loop.create_task(self._relay_presence(), name=f"presence {self.session.id}")

    async def stop(self) -> None:
        """Ask every client to close with 1001 and stop the frame loop."""
        for link in self.links.values():
            link.request_close(int(CloseCode.GOING_AWAY), "server shutting down")
        if self.twin is not None:
            await self.twin.stop()
        for task in (self._task, self._relay):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- what transports and uploads report ---

    def knows(self, token: str) -> bool:
        return self.session.member(token) is not None

    async def accept(self, token: str, hello: Hello, link: ClientLink) -> Accepted | Refused:
        return self.connect(token, hello, link)

    def connect(self, token: str, hello: Hello, link: ClientLink) -> Accepted | Refused:
        client_id = secrets.token_urlsafe(CLIENT_ID_BYTES)
        effects = self.session.apply(Connect(client_id, token, hello), self._clock())
        first = effects[0]
        assert isinstance(first, Accepted | Refused)
        if isinstance(first, Accepted):
            replaced = self.links.get(first.client_id)
            if replaced is not None:  # a resume while the old connection still looked alive
                self._counters.absorb(replaced.outbox)
                replaced.request_close(NORMAL_CLOSURE, "replaced by a newer connection of this client")
            self.links[first.client_id] = link
            self._outboxes[first.client_id] = link.outbox
            self.streamer.forget(first.client_id)
            self._dispatch(effects[1:])
            if self.twin is not None:
                self.send(first.client_id, self.twin.status())
            self._presence_joined(first.client_id)
        return first

    def receive(self, client_id: str, message: ClientMsg) -> None:
        """Every control message goes through the session, which checks the sender's role first."""
        self._apply(Received(client_id, message))

    def send(self, client_id: str, message: ServerMsg) -> None:
        """One control message to one client (dropped if it is not connected)."""
        link = self.links.get(client_id)
        if link is not None:
            self._put(link, self._text(message))

    def broadcast(self, message: ServerMsg) -> None:
        text = self._text(message)
        for link in list(self.links.values()):
            self._put(link, text)

    def disconnect(self, client_id: str, link: ClientLink) -> None:
        """The connection of ``link`` ended; nothing happens if a resumed connection replaced it."""
        if self.links.get(client_id) is not link:
            return
        del self.links[client_id]
        self._outboxes.pop(client_id, None)
        self._counters.absorb(link.outbox)
        if self.twin is not None:
            self.twin.forget_client(client_id)
        self._apply(Disconnect(client_id))
        slot = self.presence.leave(client_id)
        if slot is not None:
            left = PresencePeers(full=False, peers=[], left=[slot]).model_dump_json()
            for other in list(self.links.values()):
                if other.relays_presence:
                    self._put(other, left)

    def receive_presence(self, client_id: str, data: bytes) -> None:
        """A client's binary presence message: checked (ProtocolError ``bad_frame``), then kept for the relay
        (dropped over the rate limit). An observer's is refused (``forbidden``, said once a second)."""
        refused = self.session.check(client_id, "presence", self._clock())
        if refused is not None:
            self._dispatch(refused)
            return
        body = check_pose_message(data)
        self.presence.update(client_id, body, self._clock())

    def relay_presence(self) -> None:
        """One relay tick: each client whose last batch has gone gets the presences changed since."""
        for client_id, link in self.links.items():
            if link.presence is None and link.relays_presence:
                batch = self.presence.batch(client_id)
                if batch is not None:
                    link.put_presence(batch)

    async def _relay_presence(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + PRESENCE_TICK_S, loop.time())  # a stalled loop skips ticks rather than bunching them
            await asyncio.sleep(due - loop.time())
            self.relay_presence()

    def _presence_joined(self, client_id: str) -> None:
        """Give ``client_id`` a presence slot: it hears who everyone is, the others hear of it."""
        slot = self.presence.join(client_id, self._clock())
        joined = PresencePeers(full=False, peers=[self._peer(client_id, slot)]).model_dump_json()
        everyone = PresencePeers(full=True, peers=[self._peer(c, s) for c, s in self.presence.slots().items()])
        for cid, link in list(self.links.items()):
            if link.relays_presence:
                self._put(link, everyone.model_dump_json() if cid == client_id else joined)

    def _peer(self, client_id: str, slot: int) -> PeerInfo:
        client = self.session.clients.get(client_id)
        member = self.session.member(client.token) if client is not None else None
        if member is None:
            return PeerInfo(slot=slot, client_id=client_id)
        return PeerInfo(slot=slot, client_id=client_id, member=member.id, name=member.name, role=member.role)

    def add_objects(self, objects: tuple[StreamObject, ...]) -> None:
        self._apply(AddObjects(objects))

    def upload_status(self, status: UploadStatus) -> None:
        self._apply(UploadProgress(status))

    # --- effects ---

    def _apply(self, event: Event) -> None:
        self._dispatch(self.session.apply(event, self._clock()))
        if self.on_change is not None:
            self.on_change()

    def _dispatch(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                link = self.links.get(effect.client_id)
                if link is not None:
                    message = effect.message
                    if isinstance(message, Welcome) and self.servers is not None:
                        message = message.model_copy(update={"servers": self.servers()})
                    self._put(link, self._text(message))
            elif isinstance(effect, Broadcast):
                text = self._text(effect.message)
                for link in list(self.links.values()):
                    self._put(link, text)
            elif isinstance(effect, Keyframe):
                link = self.links.get(effect.client_id)
                if link is not None:
                    link.outbox.request_keyframe(effect.key)
                    self.streamer.resend(effect.client_id, effect.key)
            elif isinstance(effect, StreamsChanged):
                self.streamer.kick()
            elif isinstance(effect, Delegate):
                self._delegate(effect.client_id, effect.message)
            elif isinstance(effect, Close):
                link = self.links.get(effect.client_id)
                if link is not None:
                    link.request_close(effect.code, effect.reason)
            elif isinstance(effect, Denied):
                log.warning("session %s: refused from member %s (%s): %s", self.session.id, effect.member_id,
                            effect.role, effect.reason)
            elif isinstance(effect, Ended):
                log.info("session %s: ended by its host", self.session.id)
                self._ending = asyncio.get_running_loop().create_task(self.stop(), name=f"end {self.session.id}")

    def _delegate(self, client_id: str, message: ClientMsg) -> None:
        if not isinstance(message, TwinParams | TwinAction | TwinControl):
            return
        if self.twin is not None:
            self.twin.receive(client_id, message)
        else:
            self.send(client_id, ErrorMessage(code="twin_unavailable", message="this session has no twin",
                                              seq=message.seq))

    def _text(self, message: ServerMsg | None) -> str:
        return encode_server_message(message if message is not None else self.session.playback_state(self._clock()))

    @staticmethod
    def _put(link: ClientLink, text: str) -> None:
        try:
            link.outbox.put_control(text)
        except OutboxOverflow:
            link.request_close(int(CloseCode.TOO_SLOW), "client too slow")
