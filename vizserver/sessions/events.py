"""What goes into a session (events) and what comes out (effects): plain data, no behaviour.

The transport makes events from socket traffic; :meth:`Session.apply <vizserver.sessions.session.Session.apply>`
returns effects, which the hub carries out in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from vizserver.protocol.messages import (
    AnnotationDeleted,
    AnnotationMessage,
    AnnotationsMessage,
    ClientMsg,
    ErrorMessage,
    FollowState,
    Hello,
    MembersMessage,
    Pong,
    SceneMessage,
    SessionEnded,
    TourOutline,
    TourProgress,
    TourStepMessage,
    TwinApplied,
    TwinStatus,
    UploadStatus,
    Welcome,
)
from vizserver.scenes.objects import StreamObject
from vizserver.sessions.roles import Role

ServerMsg = (
    Welcome | SceneMessage | ErrorMessage | Pong | UploadStatus | TwinStatus | TwinApplied
    | MembersMessage | SessionEnded | AnnotationsMessage | AnnotationMessage | AnnotationDeleted | TourOutline
    | TourStepMessage | TourProgress | FollowState
)
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
    """A decoded control message from a connected client."""

    client_id: str
    message: ClientMsg


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


@dataclass(frozen=True, slots=True)
class Delegate:
    """An allowed message the session leaves to another part (a twin request: the session's twin)."""

    client_id: str
    message: ClientMsg


@dataclass(frozen=True, slots=True)
class Close:
    """Close this client's connection (after what is queued for it) with ``code``."""

    client_id: str
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Denied:
    """A client's message was refused for its role (the ``forbidden`` error is a separate :class:`Send`)."""

    client_id: str
    member_id: str
    role: Role
    reason: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The host ended the session: every token is revoked; stop its streams and its twin."""


Effect = Accepted | Refused | Send | Broadcast | Keyframe | StreamsChanged | Delegate | Close | Denied | Ended
