"""One session as a pure state machine: ``Session.apply(event, now) -> effects`` (DESIGN.md 4.6).

A session shows one scene (objects with a revision number) to its members. A member holds a token
of one role (``sessions/roles.py``); each WebSocket connection of a member is a client with its own
id and subscriptions. The transport turns socket traffic into events and carries out the effects
(send a message, broadcast, ask for a keyframe, close a connection, refuse); nothing here touches a
socket or a clock.

Every client message is checked against the permission table before anything else: a refused one
is answered with ``error {code: "forbidden"}`` to its sender alone and reported as :class:`Denied`
(for the log). The host's requests (roles, removal, steering, ending) and the hand queue change the
:class:`Roster`; everyone then gets a fresh ``members``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from vizserver import __version__
from vizserver.config import RESUME_WINDOW_S
from vizserver.protocol.messages import (
    AllowSteering,
    CloseCode,
    EndSession,
    ErrorCode,
    FieldInfo,
    FollowRequest,
    Hello,
    KeyframeRequest,
    MemberInfo,
    MemberRequest,
    MembersMessage,
    Ping,
    PlaybackRequest,
    PlaybackState,
    Pong,
    RaiseHand,
    RemoveMember,
    ReturnPresenter,
    SceneMessage,
    SceneObjectInfo,
    SessionEnded,
    SetRole,
    Subscribe,
    TimeInfo,
    TwinAction,
    TwinControl,
    TwinParams,
    Welcome,
)
from vizserver.protocol.messages import ErrorMessage as ErrorMsg
from vizserver.scenes.objects import BuiltScene, StreamObject
from vizserver.server.settings import MAX_CLIENTS_PER_SESSION, MAX_TOKENS_PER_SESSION
from vizserver.sessions import collab
from vizserver.sessions.annotations import AnnotationStore
from vizserver.sessions.events import (
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
    StreamsChanged,
    UploadProgress,
)
from vizserver.sessions.follow import Following, follow_message
from vizserver.sessions.members import Member, Roster, RosterError
from vizserver.sessions.playback import Playback
from vizserver.sessions.roles import DRIVERS, Policy, Role, permits, refusal
from vizserver.sessions.tours import TourState

__all__ = [  # the events and effects are re-exported: callers speak to a session through this module
    "Accepted", "AddObjects", "Broadcast", "Close", "Connect", "Delegate", "Denied", "Disconnect", "Effect", "Ended",
    "Event", "Keyframe", "Member", "Received", "Refused", "Role", "Send", "ServerMsg", "Session", "StreamsChanged",
    "UploadProgress",
]

DEFAULT_PLAYBACK_FPS = 10.0
"""Time steps per second at speed 1 when a scene does not say otherwise."""

CLOSE_SESSION_FULL = int(CloseCode.SESSION_FULL)
"""Close code for a connection to a session that already has ``MAX_CLIENTS_PER_SESSION`` clients."""

CLOSE_UNKNOWN_SESSION = int(CloseCode.UNKNOWN_SESSION)

DENIAL_QUIET_S = 1.0
"""A client refused the same message type again within this long gets no second error (nor log line)."""

REMOVED_REASON = "removed from the session by the host"
ENDED_REASON = "the host ended the session"

@dataclass(slots=True)
class ClientState:
    client_id: str
    token: str
    name: str
    subscriptions: dict[int, int | None]
    connected: bool = True
    left_at: float = math.inf
    denied_at: dict[str, float] = field(default_factory=dict)
    """When each message type was last refused (errors about a flood are said once a ``DENIAL_QUIET_S``)."""


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
    roster: Roster = field(default_factory=Roster)
    clients: dict[str, ClientState] = field(default_factory=dict)
    live_objects: frozenset[int] = frozenset()
    """Objects whose streamed fields come from a live twin (frames pushed as it computes), not a series."""
    open: bool = False
    """Participants have the presenter's rights (the server's default session, which has no host present)."""
    steering_allowed: bool = False
    """The host lets participants steer the twin."""
    ended: bool = False
    following: Following | None = None
    """Whose view everyone follows (sessions/follow.py); ``None``: nobody leads."""
    annotations: AnnotationStore = field(default_factory=AnnotationStore)
    """Pins and strokes (sessions/collab.py routes the requests); ``to_json``/``from_json`` for persistence."""
    tour: TourState | None = None
    """The scene's guided tour and where everyone is in it (``snapshot``/``restore``); ``None``: the scene has none."""
    wall_offset: float = 0.0
    """Added to the session's (monotonic) clock for wall-clock seconds (annotation times); the hub sets it."""

    @classmethod
    def of_scene(cls, session_id: str, join_code: str, scene: BuiltScene, now: float) -> Session:
        return cls(session_id, join_code, now, scene.title, scene.objects, Playback(_steps(scene.objects)))

    # --- members ---

    def add_member(self, token: str, role: Role, name: str, now: float) -> Member:
        """Remember a token; past ``MAX_TOKENS_PER_SESSION`` the oldest token with no connection is forgotten."""
        busy = {c.token for c in self.clients.values() if c.connected}
        return self.roster.add(token, role, name, now, MAX_TOKENS_PER_SESSION, busy)

    def member(self, token: str | None) -> Member | None:
        """The member holding ``token``; ``None`` for a token this session never gave, or revoked."""
        return self.roster.by_token(token)

    @property
    def policy(self) -> Policy:
        return Policy(open=self.open, steering=self.steering_allowed)

    def idle_since(self) -> float | None:
        """When the last client left (or the session was created); ``None`` while someone is connected."""
        if self.connected:
            return None
        return max((c.left_at for c in self.clients.values()), default=self.created)

    @property
    def connected(self) -> list[ClientState]:
        return [c for c in self.clients.values() if c.connected]

    def members_message(self) -> MembersMessage:
        """Every member with a connection (or one that may still resume), in the order they joined."""
        present: dict[str, bool] = {}
        for client in self.clients.values():
            present[client.token] = present.get(client.token, False) or client.connected
        listed = [m for m in self.roster if m.token in present]
        ids = {m.id for m in listed}
        return MembersMessage(
            members=[
                MemberInfo(id=m.id, name=m.name, color=m.color, role=m.role,
                           hand_raised=m.id in self.roster.hands, connected=present[m.token])
                for m in listed
            ],
            hands=[h for h in self.roster.hands if h in ids],
            steering=self.open or self.steering_allowed,
            open=self.open,
        )

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
        welcome = Welcome(client_id=client.client_id, session_id=self.id, role=member.role, server=__version__,
                          member=member.id)
        return [
            Accepted(client.client_id, member.role, resumed is not None),
            Send(client.client_id, welcome),
            Send(client.client_id, self.scene_message()),
            Send(client.client_id, None),
            Broadcast(self.members_message()),
            *collab.joined(self, client.client_id, member),
            *([Send(client.client_id, follow_message(self.following))] if self.following else []),
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
        released = self._release_follow()
        still_here = any(c.connected and c.token == client.token for c in self.clients.values())
        if still_here:
            return [*released, StreamsChanged()]
        member = self.member(client.token)
        gone = collab.left(self, member.id) if member is not None else []
        return [Broadcast(self.members_message()), *released, *gone, StreamsChanged()]

    def check(self, client_id: str, message_type: str, now: float) -> list[Effect] | None:
        """``None`` when this client's role may send ``message_type`` now; else the refusal's effects
        (none at all for a repeat within ``DENIAL_QUIET_S``: a refused flood is said once a second)."""
        client = self.clients.get(client_id)
        member = self.member(client.token) if client is not None and client.connected else None
        if client is None or member is None:
            return []  # gone or removed: its last messages are dropped
        if permits(member.role, message_type, self.policy):
            return None
        if now - client.denied_at.get(message_type, -math.inf) < DENIAL_QUIET_S:
            return []
        client.denied_at[message_type] = now
        reason = refusal(member.role, message_type)
        return [Send(client_id, _error(ErrorCode.FORBIDDEN, reason)), Denied(client_id, member.id, member.role, reason)]

    def _received(self, event: Received, now: float) -> list[Effect]:
        msg = event.message
        refused = self.check(event.client_id, msg.type, now)
        if refused is not None:
            if refused and isinstance(msg, TwinParams | TwinAction | TwinControl):
                first = refused[0]
                assert isinstance(first, Send) and isinstance(first.message, ErrorMsg)
                refused[0] = Send(first.client_id, first.message.model_copy(update={"seq": msg.seq}))
            return refused
        client = self.clients[event.client_id]
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
        if isinstance(msg, Hello):
            return [Send(client.client_id, _bad("hello: already connected; 'hello' is only the first message"))]
        if isinstance(msg, MemberRequest):
            try:
                return self._member_request(client, msg)
            except RosterError as exc:
                return [Send(client.client_id, _error(ErrorCode.BAD_REQUEST, f"{msg.type}: {exc}"))]
        if isinstance(msg, FollowRequest):
            return self._follow(client, msg)
        if isinstance(msg, collab.Request):
            return collab.request(self, client.client_id, msg, now)
        return [Delegate(client.client_id, msg)]

    def _follow(self, client: ClientState, msg: FollowRequest) -> list[Effect]:
        """The sender leads (``on``) or releases everyone; another driver's ``on`` takes the lead over."""
        sender = self.member(client.token)
        assert sender is not None  # checked with the permission
        following = Following(sender.id, client.client_id, msg.lock) if msg.on else None
        if following == self.following:
            return []
        self.following = following
        return [Broadcast(follow_message(following))]

    def _release_follow(self) -> list[Effect]:
        """End following when its connection can no longer lead (gone, removed, no longer presenter or host)."""
        lead = self.following
        if lead is None:
            return []
        client = self.clients.get(lead.client)
        member = self.member(client.token) if client is not None and client.connected else None
        if member is not None and member.role in DRIVERS:
            return []
        self.following = None
        return [Broadcast(follow_message(None))]

    def _member_request(self, client: ClientState, msg: MemberRequest) -> list[Effect]:
        """A request the permission table let through; :class:`RosterError` when it names no one it could."""
        sender = self.member(client.token)
        assert sender is not None  # checked with the permission
        changed = True
        effects: list[Effect] = []
        if isinstance(msg, SetRole):
            self.roster.set_role(msg.member, msg.role)
        elif isinstance(msg, ReturnPresenter):
            if self.roster.return_presenter() is None:
                raise RosterError("nobody holds the presenter role")
        elif isinstance(msg, RemoveMember):
            effects = self._remove(self.roster.remove(msg.member))
        elif isinstance(msg, AllowSteering):
            changed, self.steering_allowed = self.steering_allowed != msg.allowed, msg.allowed
        elif isinstance(msg, EndSession):
            return self._end()
        elif isinstance(msg, RaiseHand):
            changed = self.roster.raise_hand(sender.id)
        else:
            target = msg.member or sender.id
            if target != sender.id and sender.role not in DRIVERS:
                reason = "lower_hand: a participant lowers only its own hand"
                return [Send(client.client_id, _error(ErrorCode.FORBIDDEN, reason)),
                        Denied(client.client_id, sender.id, sender.role, reason)]
            self.roster.by_id(target)
            changed = self.roster.lower_hand(target)
        if not changed:
            return effects
        for c in self.clients.values():
            c.denied_at.clear()  # roles or the policy changed: a refusal is news again
        return [*effects, Broadcast(self.members_message()), *self._release_follow()]

    def _remove(self, member: Member) -> list[Effect]:
        """Close the removed member's connections; its token is already forgotten (revoked)."""
        theirs = [c for c in self.clients.values() if c.token == member.token]
        for c in theirs:
            del self.clients[c.client_id]
        code = int(CloseCode.REMOVED)
        closes = [Close(c.client_id, code, REMOVED_REASON) for c in theirs if c.connected]
        return [*closes, *collab.forget(self, member.id), StreamsChanged()]

    def _end(self) -> list[Effect]:
        if self.open:
            raise RosterError("the server's default session is open to all and cannot be ended")
        connected = self.connected
        self.ended = True
        self.roster.revoke_all()
        self.clients.clear()
        return [
            Broadcast(SessionEnded(reason=ENDED_REASON)),
            *(Close(c.client_id, int(CloseCode.SESSION_ENDED), ENDED_REASON) for c in connected),
            Ended(),
        ]

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
    return _error(ErrorCode.BAD_MESSAGE, message)


def _error(code: ErrorCode, message: str) -> ErrorMsg:
    return ErrorMsg(code=str(code), message=message)


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

