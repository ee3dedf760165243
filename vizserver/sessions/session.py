"""One session as a pure state machine: ``Session.apply(event, now) -> effects`` (DESIGN.md 4.6).

A session shows one scene (objects with a revision number) to its members. A member holds a token
(role ``host`` or ``participant``); each WebSocket connection of a member is a client with its own
id and subscriptions. The transport turns socket traffic into events and carries out the effects
(send a message, broadcast, ask for a keyframe, refuse); nothing here touches a socket or a clock.

Roles stay simple for now: everyone may change the shared playback; the host's token is the one
returned when the session is created.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from vizserver import __version__
from vizserver.config import RESUME_WINDOW_S
from vizserver.protocol.messages import ErrorMessage as ErrorMsg
from vizserver.protocol.messages import (
    FieldInfo,
    Hello,
    KeyframeRequest,
    Ping,
    PlaybackRequest,
    PlaybackState,
    Pong,
    SceneMessage,
    SceneObjectInfo,
    Subscribe,
    TimeInfo,
    TwinApplied,
    TwinStatus,
    UploadStatus,
    Welcome,
)
from vizserver.scenes.objects import BuiltScene, StreamObject
from vizserver.server.settings import MAX_CLIENTS_PER_SESSION, MAX_TOKENS_PER_SESSION
from vizserver.sessions.playback import Playback

Role = Literal["host", "participant"]

DEFAULT_PLAYBACK_FPS = 10.0
"""Time steps per second at speed 1 when a scene does not say otherwise."""

CLOSE_SESSION_FULL = 4005
"""Close code for a connection to a session that already has ``MAX_CLIENTS_PER_SESSION`` clients."""

CLOSE_UNKNOWN_SESSION = 4004

ServerMsg = Welcome | SceneMessage | ErrorMsg | Pong | UploadStatus | TwinStatus | TwinApplied
"""What effects carry (the ``playback`` state is built by :meth:`Session.playback_state`)."""


# --- events ---


@dataclass(frozen=True, slots=True)
class Connect:
    """A connection said ``hello`` with ``token``; ``client_id`` is the id to give it unless it resumes."""

    client_id: str
    token: str
    hello: Hello


@dataclass(frozen=True, slots=True)
class Disconnect:
    client_id: str


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded control message from a connected client (not ``hello``)."""

    client_id: str
    message: Subscribe | PlaybackRequest | KeyframeRequest | Ping | Hello


@dataclass(frozen=True, slots=True)
class AddObjects:
    """Objects (from an upload) join the scene; their ids are reassigned after the existing ones."""

    objects: tuple[StreamObject, ...]


@dataclass(frozen=True, slots=True)
class UploadProgress:
    status: UploadStatus


Event = Connect | Disconnect | Received | AddObjects | UploadProgress

# --- effects ---


@dataclass(frozen=True, slots=True)
class Accepted:
    """The connection is client ``client_id`` (a new id, or the one it resumed)."""

    client_id: str
    role: Role
    resumed: bool


@dataclass(frozen=True, slots=True)
class Refused:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Send:
    client_id: str
    message: ServerMsg | None
    """``None``: the current playback state (built at send time)."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: ServerMsg | None
    """``None``: the current playback state."""


@dataclass(frozen=True, slots=True)
class Keyframe:
    client_id: str
    key: tuple[int, int]


@dataclass(frozen=True, slots=True)
class StreamsChanged:
    """Playback or subscriptions changed: the streamer re-evaluates what to encode and send."""


Effect = Accepted | Refused | Send | Broadcast | Keyframe | StreamsChanged


@dataclass(frozen=True, slots=True)
class Member:
    token: str
    role: Role
    name: str
    created: float


@dataclass(slots=True)
class ClientState:
    client_id: str
    token: str
    name: str
    subscriptions: dict[int, int | None]
    connected: bool = True
    left_at: float = math.inf


@dataclass(slots=True)
class Session:
    """State of one session; mutate it only through :meth:`apply` (and :meth:`add_member`)."""

    id: str
    join_code: str
    created: float
    title: str
    objects: tuple[StreamObject, ...]
    playback: Playback
    revision: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    clients: dict[str, ClientState] = field(default_factory=dict)
    live_objects: frozenset[int] = frozenset()
    """Objects whose streamed fields come from a live twin (frames pushed as it computes), not a series."""

    @classmethod
    def of_scene(cls, session_id: str, join_code: str, scene: BuiltScene, now: float) -> Session:
        return cls(session_id, join_code, now, scene.title, scene.objects, Playback(_steps(scene.objects)))

    # --- members ---

    def add_member(self, token: str, role: Role, name: str, now: float) -> Member:
        """Remember a token; past ``MAX_TOKENS_PER_SESSION`` the oldest token with no connection is forgotten."""
        if len(self.members) >= MAX_TOKENS_PER_SESSION:
            connected = {c.token for c in self.clients.values() if c.connected}
            idle = [m for m in self.members.values() if m.token not in connected and m.role != "host"]
            if idle:
                del self.members[min(idle, key=lambda m: m.created).token]
        member = Member(token, role, name, now)
        self.members[token] = member
        return member

    def member(self, token: str | None) -> Member | None:
        return self.members.get(token) if token else None

    def idle_since(self) -> float | None:
        """When the last client left (or the session was created); ``None`` while someone is connected."""
        if self.connected:
            return None
        return max((c.left_at for c in self.clients.values()), default=self.created)

    @property
    def connected(self) -> list[ClientState]:
        return [c for c in self.clients.values() if c.connected]

    # --- the state machine ---

    def apply(self, event: Event, now: float) -> list[Effect]:
        if isinstance(event, Connect):
            return self._connect(event, now)
        if isinstance(event, Disconnect):
            return self._disconnect(event, now)
        if isinstance(event, Received):
            return self._received(event, now)
        if isinstance(event, AddObjects):
            return self._add_objects(event.objects, now)
        return [Broadcast(event.status)]

    def _connect(self, event: Connect, now: float) -> list[Effect]:
        member = self.member(event.token)
        if member is None:
            return [Refused(CLOSE_UNKNOWN_SESSION, "unknown session or bad token")]
        if len(self.connected) >= MAX_CLIENTS_PER_SESSION:
            return [Refused(CLOSE_SESSION_FULL, f"session full ({MAX_CLIENTS_PER_SESSION} clients)")]
        self._forget_departed(now)
        resumed = self._resumable(event, now)
        if resumed is not None:
            resumed.connected, resumed.left_at = True, math.inf
            client = resumed
        else:
            client = ClientState(event.client_id, member.token, event.hello.client, self._default_subscriptions())
            self.clients[client.client_id] = client
        welcome = Welcome(client_id=client.client_id, session_id=self.id, role=member.role, server=__version__)
        return [
            Accepted(client.client_id, member.role, resumed is not None),
            Send(client.client_id, welcome),
            Send(client.client_id, self.scene_message()),
            Send(client.client_id, None),
            StreamsChanged(),
        ]

    def _resumable(self, event: Connect, now: float) -> ClientState | None:
        if event.hello.resume is None:
            return None
        old = self.clients.get(event.hello.resume.client_id)
        if old is None or old.token != event.token or (not old.connected and now - old.left_at > RESUME_WINDOW_S):
            return None
        return old  # still connected: the client reconnected before we noticed it left; the new connection wins

    def _forget_departed(self, now: float) -> None:
        gone = [cid for cid, c in self.clients.items() if not c.connected and now - c.left_at > RESUME_WINDOW_S]
        for cid in gone:
            del self.clients[cid]

    def _disconnect(self, event: Disconnect, now: float) -> list[Effect]:
        client = self.clients.get(event.client_id)
        if client is None or not client.connected:
            return []
        client.connected, client.left_at = False, now
        return [StreamsChanged()]

    def _received(self, event: Received, now: float) -> list[Effect]:
        client = self.clients.get(event.client_id)
        if client is None or not client.connected:
            return []
        msg = event.message
        if isinstance(msg, Ping):
            return [Send(client.client_id, Pong(t=msg.t))]
        if isinstance(msg, PlaybackRequest):
            self.playback = self.playback.apply(msg, now)
            return [Broadcast(None), StreamsChanged()]
        if isinstance(msg, Subscribe):
            problem = self._check_field(msg.object, msg.field)
            if problem:
                return [Send(client.client_id, _bad(f"subscribe: {problem}"))]
            client.subscriptions[msg.object] = msg.field
            return [StreamsChanged()]
        if isinstance(msg, KeyframeRequest):
            problem = self._check_field(msg.object, msg.field)
            if problem:
                return [Send(client.client_id, _bad(f"keyframe: {problem}"))]
            return [Keyframe(client.client_id, (msg.object, msg.field)), StreamsChanged()]
        return [Send(client.client_id, _bad("hello: already connected; 'hello' is only the first message"))]

    def _check_field(self, object_id: int, field_id: int | None) -> str | None:
        if object_id >= len(self.objects):
            return f"no object {object_id} (the scene has {len(self.objects)})"
        if field_id is not None and self.objects[object_id].field(field_id) is None:
            return f"object {object_id} has no field {field_id}"
        return None

    def _add_objects(self, objects: Iterable[StreamObject], now: float) -> list[Effect]:
        added = tuple(o.with_id(len(self.objects) + i) for i, o in enumerate(objects))
        self.objects = (*self.objects, *added)
        self.revision += 1
        steps = _steps(self.objects)
        if steps != self.playback.steps:
            self.playback = replace(self.playback.change(now), steps=steps)
        for client in self.clients.values():
            for obj in added:
                client.subscriptions.setdefault(obj.id, _default_field(obj))
        return [Broadcast(self.scene_message()), Broadcast(None), StreamsChanged()]

    def _default_subscriptions(self) -> dict[int, int | None]:
        return {obj.id: _default_field(obj, obj.id in self.live_objects) for obj in self.objects}

    def make_live(self, obj: StreamObject) -> None:
        """Object ``obj.id`` becomes ``obj`` (with its twin's output fields) and streams live from now on."""
        objects = list(self.objects)
        objects[obj.id] = obj
        self.objects = tuple(objects)
        self.live_objects = self.live_objects | {obj.id}
        self.revision += 1
        for client in self.clients.values():
            client.subscriptions[obj.id] = _default_field(obj, live=True)

    # --- views for the transport and the streamer ---

    def playback_state(self, now: float) -> PlaybackState:
        return self.playback.state(now, self.times)

    @property
    def times(self) -> tuple[float, ...]:
        """The simulation times of the longest series in the scene (the playback's time axis)."""
        longest = max((o.times for o in self.objects if o.times), key=len, default=())
        return longest

    def streams(self) -> dict[tuple[int, int], list[str]]:
        """Connected subscribers of every streamed (object, field)."""
        out: dict[tuple[int, int], list[str]] = {}
        for client in self.clients.values():
            if not client.connected:
                continue
            for object_id, field_id in client.subscriptions.items():
                if field_id is None or object_id >= len(self.objects):
                    continue
                desc = self.objects[object_id].field(field_id)
                live = object_id in self.live_objects
                if desc is not None and desc.streamed and (live or self.objects[object_id].series is not None):
                    out.setdefault((object_id, field_id), []).append(client.client_id)
        return out

    def scene_message(self) -> SceneMessage:
        return SceneMessage(revision=self.revision, title=self.title, objects=[object_info(o) for o in self.objects])


def _bad(message: str) -> ErrorMsg:
    return ErrorMsg(code="bad_message", message=message)


def _steps(objects: Iterable[StreamObject]) -> int:
    return max((len(o.times) for o in objects if o.times and o.series is not None), default=0)


def _default_field(obj: StreamObject, live: bool = False) -> int | None:
    if obj.active_field is None or (obj.series is None and not live):
        return None
    desc = obj.field(obj.active_field)
    return obj.active_field if desc is not None and desc.streamed else None


def asset_url(digest: str) -> str:
    return f"/assets/{digest}.glb"


def object_info(obj: StreamObject) -> SceneObjectInfo:
    """The ``scene`` entry of one object (docs/protocol.md ``SceneObjectInfo``)."""
    return SceneObjectInfo(
        id=obj.id,
        name=obj.name,
        asset=asset_url(obj.asset),
        lods=[asset_url(h) for h in obj.lods],
        lod_triangles=list(obj.lod_triangles),
        vertices=obj.vertices,
        triangles=obj.triangles,
        visible=obj.visible,
        color=obj.color,
        opacity=obj.opacity,
        transform=list(obj.transform),
        fields=[
            FieldInfo(
                id=f.id,
                name=f.name,
                unit=f.unit,
                components=f.components,
                range=f.color_range or f.range or (0.0, 0.0),
                colormap=f.colormap,
                categorical=f.categorical,
            )
            for f in obj.fields
        ],
        active_field=obj.active_field,
        time=None
        if obj.times is None
        else TimeInfo(steps=len(obj.times), times=list(obj.times), unit=obj.time_unit),
    )

