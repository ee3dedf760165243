"""Control messages of protocol v1 (docs/protocol.md): JSON over WebSocket text messages, a ``type`` each.

Pure encode/decode, no I/O. Client messages are validated strictly (no type coercion: ``"1"`` is
not an int, ``true`` is not a number; NaN and infinities are refused; unknown fields are refused;
every string and list is bounded), so anything a browser or an attacker sends either becomes one
of the models below or a :class:`ProtocolError` whose one-line message names the problem.
Server messages are built by our code; they are validated too, so a bug shows at the sender.
"""

from __future__ import annotations

import math
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from vizserver.config import (
    MAX_CLIENT_NAME_CHARS,
    MAX_CONTROL_MESSAGE_BYTES,
    MAX_FIELD_FRAME_BYTES,
    MAX_SERVER_MESSAGE_BYTES,
    MAX_TIME_STEPS,
    PLAYBACK_MAX_SPEED,
    PLAYBACK_MIN_SPEED,
)
from vizserver.errors import InputError

PROTOCOL_VERSION = 1
"""The protocol this server speaks; ``hello.protocol`` must equal it."""

MAX_ERROR_TEXT_CHARS = 300
"""A ProtocolError message is cut to this many characters (it may quote client input)."""

MAX_TEXT_CHARS = 1024
"""Longest free text in a server message (error message, title)."""

MAX_NAME_CHARS = 256
"""Longest name (object, field, unit, colormap, role, upload file name, ids)."""

MAX_URL_CHARS = 1024
"""Longest asset URL in a ``scene``."""

MAX_SCENE_OBJECTS = 4096
"""Most objects in one ``scene`` message."""

MAX_OBJECT_FIELDS = 256
"""Most fields of one scene object."""

MAX_LODS = 16
"""Most coarser levels of detail listed for one object."""

U32_MAX = (1 << 32) - 1
"""Ids, steps and sequences travel as u32 in frame headers."""

Finite = Annotated[float, Field(allow_inf_nan=False)]
U32 = Annotated[int, Field(ge=0, le=U32_MAX)]
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]


class ErrorCode(StrEnum):
    """``error.code`` values and :attr:`ProtocolError.code`."""

    BAD_MESSAGE = "bad_message"
    TOO_LARGE = "too_large"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNEXPECTED_BINARY = "unexpected_binary"
    BAD_FRAME = "bad_frame"
    MISSING_BASE = "missing_base"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"


class CloseCode(IntEnum):
    """WebSocket close codes of docs/protocol.md."""

    NOT_HELLO = 4001
    UNSUPPORTED_PROTOCOL = 4002
    TOO_MANY_BAD_MESSAGES = 4003
    UNKNOWN_SESSION = 4004
    SESSION_FULL = 4005
    TOO_SLOW = 4008
    SESSION_ENDED = 4010
    REMOVED = 4011
    GOING_AWAY = 1001


class ProtocolError(InputError):
    """A message or frame that breaks protocol v1; ``code`` is the ``error.code`` to answer with."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(_one_line(message))
        self.code = code


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR_TEXT_CHARS else flat[: MAX_ERROR_TEXT_CHARS - 3] + "..."


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _ClientMessage(_Message):
    model_config = ConfigDict(strict=True)


def _omit_none(value: object) -> bool:
    return value is None


# --- client -> server ---


class Resume(_ClientMessage):
    client_id: Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_NAME_CHARS)]


class Hello(_ClientMessage):
    type: Literal["hello"] = "hello"
    protocol: Annotated[int, Field(ge=0, le=U32_MAX)]
    client: Annotated[str, Field(max_length=MAX_CLIENT_NAME_CHARS)]
    resume: Resume | None = Field(default=None, exclude_if=_omit_none)


class Subscribe(_ClientMessage):
    type: Literal["subscribe"] = "subscribe"
    object: U32
    field: U32 | None


class PlaybackRequest(_ClientMessage):
    type: Literal["playback"] = "playback"
    playing: bool | None = Field(default=None, exclude_if=_omit_none)
    step: U32 | None = Field(default=None, exclude_if=_omit_none)
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED, allow_inf_nan=False)] | None = Field(
        default=None, exclude_if=_omit_none
    )
    loop: bool | None = Field(default=None, exclude_if=_omit_none)


class KeyframeRequest(_ClientMessage):
    type: Literal["keyframe"] = "keyframe"
    object: U32
    field: U32


class Ping(_ClientMessage):
    type: Literal["ping"] = "ping"
    t: Finite


MAX_TWIN_VALUES = 64
"""Most parameters in one ``twin_params``."""

ParamJSON = bool | int | Finite | Name
"""A parameter value on the wire (strict: ``true`` is a bool, ``1`` an int, ``1.5`` a float)."""


class TwinParams(_ClientMessage):
    type: Literal["twin_params"] = "twin_params"
    seq: U32
    values: Annotated[dict[Name, Any], Field(min_length=1, max_length=MAX_TWIN_VALUES)]

    @field_validator("values")
    @classmethod
    def _plain_values(cls, values: dict[str, Any]) -> dict[str, Any]:
        for name, value in values.items():
            ok = isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value))
            if not ok or (isinstance(value, str) and len(value) > MAX_NAME_CHARS):
                raise ValueError(f"{name}: expected a finite number, true/false or a short string")
        return values


class TwinAction(_ClientMessage):
    type: Literal["twin_action"] = "twin_action"
    seq: U32
    action: Name
    point: tuple[Finite, Finite, Finite] | None = Field(default=None, exclude_if=_omit_none)


class TwinControl(_ClientMessage):
    type: Literal["twin_control"] = "twin_control"
    seq: U32
    playing: bool | None = Field(default=None, exclude_if=_omit_none)
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED, allow_inf_nan=False)] | None = Field(
        default=None, exclude_if=_omit_none
    )
    reset: bool | None = Field(default=None, exclude_if=_omit_none)


TwinRequest = TwinParams | TwinAction | TwinControl

# --- members and roles (docs/protocol.md "Roles") ---

RoleName = Literal["host", "presenter", "participant", "observer"]
MemberId = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class SetRole(_ClientMessage):
    """Host: give ``member`` a role; ``presenter`` hands the presenter role over (one presenter at a time)."""

    type: Literal["set_role"] = "set_role"
    member: MemberId
    role: Literal["presenter", "participant", "observer"]


class ReturnPresenter(_ClientMessage):
    """Host (take it back) or presenter (hand it back): the presenter role returns to the host."""

    type: Literal["return_presenter"] = "return_presenter"


class RemoveMember(_ClientMessage):
    type: Literal["remove_member"] = "remove_member"
    member: MemberId


class AllowSteering(_ClientMessage):
    """Host: participants may (``true``) or may not (``false``) steer the twin."""

    type: Literal["allow_steering"] = "allow_steering"
    allowed: bool


class EndSession(_ClientMessage):
    type: Literal["end_session"] = "end_session"


class RaiseHand(_ClientMessage):
    type: Literal["raise_hand"] = "raise_hand"


class LowerHand(_ClientMessage):
    """Lower ``member``'s hand (host, presenter), or one's own (no ``member``)."""

    type: Literal["lower_hand"] = "lower_hand"
    member: MemberId | None = Field(default=None, exclude_if=_omit_none)


MemberRequest = SetRole | ReturnPresenter | RemoveMember | AllowSteering | EndSession | RaiseHand | LowerHand

# --- annotations and tours (docs/protocol.md "Annotations and tours") ---

MAX_STROKE_WIRE_POINTS = 8192
"""Points a stroke may list on the wire (a 64 KiB message holds no more); the session's own limit per
stroke is lower and refused with its reason (``sessions/annotations.py``)."""

MAX_ANNOTATIONS_LISTED = 4096
"""Most annotations (or ids) in one server message; a session holds at most 1000."""

MAX_TOUR_STEPS_LISTED = 1024
"""Most step titles in a ``tour`` outline; a scene's tour has at most 100."""

Vec3 = tuple[Finite, Finite, Finite]
HexColor = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
TourModeName = Literal["off", "guided", "self_paced"]

_PIN_FIELDS = ("object", "point", "text")
_STROKE_FIELDS = ("points", "width")


class AnnotationAdd(_ClientMessage):
    """A pin (``object``, ``point``, ``normal?``, ``text``) or a stroke (``points``, ``width``); ``color`` defaults
    to the member's colour. The session checks the limits (text length, points per stroke, quotas)."""

    type: Literal["annotation_add"] = "annotation_add"
    kind: Literal["pin", "stroke"]
    object: U32 | None = Field(default=None, exclude_if=_omit_none)
    point: Vec3 | None = Field(default=None, exclude_if=_omit_none)
    normal: Vec3 | None = Field(default=None, exclude_if=_omit_none)
    text: Text | None = Field(default=None, exclude_if=_omit_none)
    points: Annotated[list[Vec3], Field(max_length=MAX_STROKE_WIRE_POINTS)] | None = Field(
        default=None, exclude_if=_omit_none
    )
    width: Finite | None = Field(default=None, exclude_if=_omit_none)
    color: HexColor | None = Field(default=None, exclude_if=_omit_none)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> AnnotationAdd:
        needed, foreign = (_PIN_FIELDS, (*_STROKE_FIELDS,)) if self.kind == "pin" else (
            _STROKE_FIELDS, (*_PIN_FIELDS, "normal"))
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} needs {', '.join(missing)}")
        extra = [name for name in foreign if getattr(self, name) is not None]
        if extra:
            raise ValueError(f"a {self.kind} has no {', '.join(extra)}")
        return self


class AnnotationDelete(_ClientMessage):
    """Delete one annotation: its author or the host."""

    type: Literal["annotation_delete"] = "annotation_delete"
    id: U32


class AnnotationClear(_ClientMessage):
    """Delete every annotation of ``author`` (default: the sender's own), or with ``all`` everyone's (the host)."""

    type: Literal["annotation_clear"] = "annotation_clear"
    author: MemberId | None = Field(default=None, exclude_if=_omit_none)
    all: bool | None = Field(default=None, exclude_if=_omit_none)

    @model_validator(mode="after")
    def _one_target(self) -> AnnotationClear:
        if self.all and self.author is not None:
            raise ValueError("give author or all, not both")
        return self


class TourMove(_ClientMessage):
    """Guided: the presenter moves everyone; self-paced: a member moves their own step."""

    type: Literal["tour"] = "tour"
    move: Literal["next", "prev", "goto"]
    step: U32 | None = Field(default=None, exclude_if=_omit_none)

    @model_validator(mode="after")
    def _step_with_goto(self) -> TourMove:
        if (self.move == "goto") != (self.step is not None):
            raise ValueError("step goes with move 'goto' (and only with it)")
        return self


class TourModeRequest(_ClientMessage):
    """Start, switch or stop the tour; ``start``: the step to begin at."""

    type: Literal["tour_mode"] = "tour_mode"
    mode: TourModeName
    start: U32 | None = Field(default=None, exclude_if=_omit_none)


AnnotationRequest = AnnotationAdd | AnnotationDelete | AnnotationClear
TourRequest = TourMove | TourModeRequest


class FollowRequest(_ClientMessage):
    """Presenter or host: everyone's view follows the sender's (``on``), desktop cameras locked with ``lock``;
    ``on: false`` releases everyone (docs/protocol.md "Follow me")."""

    type: Literal["follow"] = "follow"
    on: bool
    lock: bool = False

ClientMsg = (
    Hello | Subscribe | PlaybackRequest | KeyframeRequest | Ping | TwinParams | TwinAction | TwinControl
    | SetRole | ReturnPresenter | RemoveMember | AllowSteering | EndSession | RaiseHand | LowerHand
    | AnnotationAdd | AnnotationDelete | AnnotationClear | TourMove | TourModeRequest | FollowRequest
)
ClientMessage = Annotated[ClientMsg, Field(discriminator="type")]
CLIENT_TYPES = (
    "hello", "subscribe", "playback", "keyframe", "ping", "twin_params", "twin_action", "twin_control",
    "set_role", "return_presenter", "remove_member", "allow_steering", "end_session", "raise_hand", "lower_hand",
    "annotation_add", "annotation_delete", "annotation_clear", "tour", "tour_mode", "follow",
)

# --- server -> client ---


class ServerLimits(_Message):
    control_bytes: int = MAX_CONTROL_MESSAGE_BYTES
    frame_bytes: int = MAX_FIELD_FRAME_BYTES


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    client_id: Name
    session_id: Name
    role: Name
    server: Name
    limits: ServerLimits = ServerLimits()
    member: Name | None = Field(default=None, exclude_if=_omit_none)
    """This client's member id (as in ``members``); a member's connections share it."""


class FieldInfo(_Message):
    id: U32
    name: Name
    unit: Name = ""
    components: Annotated[int, Field(ge=1, le=4)] = 1
    range: tuple[Finite, Finite]
    colormap: Name = "viridis"
    categorical: bool = False

    @model_validator(mode="after")
    def _ordered_range(self) -> FieldInfo:
        if self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)} is not ordered (min > max)")
        return self


class TimeInfo(_Message):
    steps: Annotated[int, Field(ge=0, le=MAX_TIME_STEPS)]
    times: Annotated[list[Finite], Field(max_length=MAX_TIME_STEPS)]
    unit: Name = ""

    @model_validator(mode="after")
    def _one_time_per_step(self) -> TimeInfo:
        if len(self.times) != self.steps:
            raise ValueError(f"{len(self.times)} times for {self.steps} steps")
        return self


IDENTITY_TRANSFORM: tuple[float, ...] = (1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0)


class SceneObjectInfo(_Message):
    id: U32
    name: Name
    asset: Annotated[str, Field(max_length=MAX_URL_CHARS)]
    lods: Annotated[list[Annotated[str, Field(max_length=MAX_URL_CHARS)]], Field(max_length=MAX_LODS)] = []
    lod_triangles: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=MAX_LODS)] = []
    vertices: Annotated[int, Field(ge=0)]
    triangles: Annotated[int, Field(ge=0)]
    visible: bool = True
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#d9d9d9"
    opacity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    transform: Annotated[list[Finite], Field(min_length=16, max_length=16)] = list(IDENTITY_TRANSFORM)
    fields: Annotated[list[FieldInfo], Field(max_length=MAX_OBJECT_FIELDS)] = []
    active_field: U32 | None = None
    time: TimeInfo | None = None

    @model_validator(mode="after")
    def _one_count_per_lod(self) -> SceneObjectInfo:
        """``lod_triangles`` is empty (counts unknown) or gives one count per entry of ``lods``."""
        if self.lod_triangles and len(self.lod_triangles) != len(self.lods):
            raise ValueError(f"{len(self.lod_triangles)} lod_triangles for {len(self.lods)} lods")
        return self


class SceneMessage(_Message):
    type: Literal["scene"] = "scene"
    revision: Annotated[int, Field(ge=0)]
    title: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    objects: Annotated[list[SceneObjectInfo], Field(max_length=MAX_SCENE_OBJECTS)]


class PlaybackState(_Message):
    type: Literal["playback"] = "playback"
    playing: bool
    step: U32
    time: Finite
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED)]
    loop: bool
    steps: Annotated[int, Field(ge=0)]
    fps: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class UploadStatus(_Message):
    type: Literal["upload"] = "upload"
    upload_id: Name
    name: Name
    stage: Literal["received", "converting", "done", "failed"]
    fraction: Annotated[float, Field(ge=0.0, le=1.0)]
    error: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None = Field(default=None, exclude_if=_omit_none)


class ErrorMessage(_Message):
    type: Literal["error"] = "error"
    code: Name
    message: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    seq: U32 | None = Field(default=None, exclude_if=_omit_none)
    """The ``seq`` of the twin request refused."""

    @classmethod
    def of(cls, error: ProtocolError) -> ErrorMessage:
        """The ``error`` message that answers ``error``."""
        return cls(code=str(error.code), message=str(error))


class Pong(_Message):
    type: Literal["pong"] = "pong"
    t: Finite


class ParameterInfo(_Message):
    name: Name
    type: Literal["float", "int", "bool", "choice"]
    default: ParamJSON
    unit: Name = ""
    minimum: Finite | None = Field(default=None, exclude_if=_omit_none)
    maximum: Finite | None = Field(default=None, exclude_if=_omit_none)
    choices: Annotated[list[Name], Field(max_length=MAX_TWIN_VALUES)] | None = Field(
        default=None, exclude_if=_omit_none
    )
    description: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] = ""


class ActionInfo(_Message):
    name: Name
    description: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] = ""
    needs_point: bool = True


class OutputInfo(_Message):
    name: Name
    unit: Name = ""
    range: tuple[Finite, Finite]


TwinStateName = Literal["starting", "running", "paused", "restarting", "failed"]


class TwinStatus(_Message):
    """Everything a client shows of a session's twin; sent on connect and whenever it changes."""

    type: Literal["twin"] = "twin"
    object: U32
    state: TwinStateName
    message: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None = Field(default=None, exclude_if=_omit_none)
    time: Finite
    time_unit: Name = ""
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED)]
    realtime: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    step_ms: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 0.0
    """Wall time the twin spent computing its last frame."""
    params: Annotated[dict[Name, ParamJSON], Field(max_length=MAX_TWIN_VALUES)]
    parameters: Annotated[list[ParameterInfo], Field(max_length=MAX_TWIN_VALUES)]
    actions: Annotated[list[ActionInfo], Field(max_length=MAX_TWIN_VALUES)]
    outputs: Annotated[list[OutputInfo], Field(max_length=MAX_OBJECT_FIELDS)]


class TwinApplied(_Message):
    """To the client whose request ``seq`` was first computed in twin frame ``frame``."""

    type: Literal["twin_applied"] = "twin_applied"
    seq: U32
    frame: U32
    time: Finite


MAX_MEMBERS_LISTED = 1024
"""Most members in one ``members`` message (a session remembers at most ``MAX_TOKENS_PER_SESSION``)."""


class MemberInfo(_Message):
    id: Name
    name: Name
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
    role: RoleName
    hand_raised: bool
    connected: bool


class MembersMessage(_Message):
    """Everyone who has connected to the session; sent to all on every join, leave and change."""

    type: Literal["members"] = "members"
    members: Annotated[list[MemberInfo], Field(max_length=MAX_MEMBERS_LISTED)]
    hands: Annotated[list[Name], Field(max_length=MAX_MEMBERS_LISTED)]
    """Ids of the members whose hand is raised, first raised first."""
    steering: bool
    """Participants may steer the twin."""
    open: bool
    """Participants have the presenter's rights (the server's default session)."""


class SessionEnded(_Message):
    """Sent to everyone just before the server closes every connection with 4010."""

    type: Literal["session_ended"] = "session_ended"
    reason: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class PinInfo(_Message):
    kind: Literal["pin"] = "pin"
    id: U32
    author: Name
    """The author's member id."""
    color: HexColor
    created: Finite
    """Server time, seconds since the epoch."""
    object: U32
    point: Vec3
    """In the object's own coordinates (before its ``transform``)."""
    normal: Vec3 | None
    text: Text


class StrokeInfo(_Message):
    kind: Literal["stroke"] = "stroke"
    id: U32
    author: Name
    color: HexColor
    created: Finite
    points: Annotated[list[Vec3], Field(min_length=2, max_length=MAX_STROKE_WIRE_POINTS)]
    """Scene content coordinates (metres, z up)."""
    width: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


AnnotationInfo = Annotated[PinInfo | StrokeInfo, Field(discriminator="kind")]
"""An entry of the annotations export (``AnnotationStore.to_json``)."""


class AnnotationsMessage(_Message):
    """Every annotation of the session, oldest first: on connect, after ``scene``."""

    type: Literal["annotations"] = "annotations"
    items: Annotated[list[AnnotationInfo], Field(max_length=MAX_ANNOTATIONS_LISTED)]


class AnnotationMessage(_Message):
    """One annotation was added (to everyone, its author included)."""

    type: Literal["annotation"] = "annotation"
    annotation: AnnotationInfo


class AnnotationDeleted(_Message):
    type: Literal["annotation_deleted"] = "annotation_deleted"
    ids: Annotated[list[U32], Field(max_length=MAX_ANNOTATIONS_LISTED)]
    by: Name
    """The member id of who deleted them."""


class TourOutline(_Message):
    """The scene's tour: on connect (when the scene has one) and to everyone whenever its mode changes."""

    type: Literal["tour"] = "tour"
    title: Text
    titles: Annotated[list[Text], Field(max_length=MAX_TOUR_STEPS_LISTED)]
    """Every step's title, in order."""
    count: U32
    mode: TourModeName
    step: U32
    """The guided step (where a guided tour is, or resumes)."""


class TourCamera(_Message):
    """Scene content coordinates (metres, z up)."""

    position: Vec3
    target: Vec3
    up: Vec3


class TourClip(_Message):
    axis: Literal["x", "y", "z"]
    position: Annotated[float, Field(ge=0.0, le=1.0)]
    """Fraction of the scene's bounds along ``axis``."""
    flip: bool


class TourStepMessage(_Message):
    """A step to show: to everyone (guided), or to one member (self-paced, and on connect)."""

    type: Literal["tour_step"] = "tour_step"
    mode: TourModeName
    step: U32
    count: U32
    title: Text
    caption: Text
    camera: TourCamera | None = Field(default=None, exclude_if=_omit_none)
    """Left out when the step does not move the camera."""
    visible: Annotated[list[U32], Field(max_length=MAX_SCENE_OBJECTS)] | None
    """Object ids shown; ``null``: every object."""
    clip: TourClip | None
    """``null``: no clipping."""


class TourProgress(_Message):
    """To whoever may drive the tour (host, presenter), while it runs: each present member's step."""

    type: Literal["tour_progress"] = "tour_progress"
    mode: TourModeName
    count: U32
    steps: Annotated[dict[Name, U32], Field(max_length=MAX_MEMBERS_LISTED)]
    """Member id -> step."""


class FollowState(_Message):
    """Who everyone follows: to all when it changes, and on connect while someone leads."""

    type: Literal["follow"] = "follow"
    leader: Name | None
    """The leader's member id; ``null``: nobody leads (everyone has their own view)."""
    client: Name | None
    """The leader's connection (``presence_peers``' ``client_id``): whose presence the view follows."""
    lock: bool
    """Desktop cameras are locked to the leader's (no orbiting, no stopping)."""


ServerMsg = (
    Welcome | SceneMessage | PlaybackState | UploadStatus | ErrorMessage | Pong | TwinStatus | TwinApplied
    | MembersMessage | SessionEnded | AnnotationsMessage | AnnotationMessage | AnnotationDeleted | TourOutline
    | TourStepMessage | TourProgress | FollowState
)
ServerMessage = Annotated[ServerMsg, Field(discriminator="type")]

_CLIENT: TypeAdapter[ClientMsg] = TypeAdapter(ClientMessage)
_SERVER: TypeAdapter[ServerMsg] = TypeAdapter(ServerMessage)


def decode_client_message(data: str | bytes) -> ClientMsg:
    """One client control message from the text of a WebSocket message (``bytes``: its UTF-8).

    Checks the size before parsing (``MAX_CONTROL_MESSAGE_BYTES``). Raises :class:`ProtocolError`
    with code ``too_large`` or ``bad_message`` and nothing else. A binary WebSocket message is not
    a control message: the transport answers it with :func:`unexpected_binary`.
    """
    message: ClientMsg = _decode(_CLIENT, data, MAX_CONTROL_MESSAGE_BYTES, "control message")
    return message


def decode_server_message(data: str | bytes) -> ServerMsg:
    """One server control message (for Python clients and tests); same errors as :func:`decode_client_message`."""
    message: ServerMsg = _decode(_SERVER, data, MAX_SERVER_MESSAGE_BYTES, "server message")
    return message


def encode_client_message(msg: ClientMsg) -> str:
    """Compact JSON, keys in declaration order; unset optional fields are left out."""
    return msg.model_dump_json()


def encode_server_message(msg: ServerMsg) -> str:
    """Compact JSON, keys in declaration order (deterministic: equal messages give equal text)."""
    return msg.model_dump_json()


def check_hello(hello: Hello) -> None:
    """Raise ``unsupported_protocol`` (answer with ``error`` and close 4002) unless we speak ``hello.protocol``."""
    if hello.protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_PROTOCOL,
            f"protocol {hello.protocol} not supported; server speaks {PROTOCOL_VERSION}",
        )


def unexpected_binary(size: int) -> ProtocolError:
    """The error for a binary WebSocket message from a client that is not presence (protocol/presence.py)."""
    return ProtocolError(
        ErrorCode.UNEXPECTED_BINARY,
        f"binary message of {size} bytes; clients send JSON text, and binary only for presence (VZP1)",
    )


def _decode(adapter: TypeAdapter[Any], data: str | bytes, limit: int, what: str) -> Any:
    size = len(data) if isinstance(data, bytes) else _utf8_size(data, limit)
    if size > limit:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"{what} of {size} bytes is over the limit of {limit} bytes")
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, _describe(exc)) from None


def _utf8_size(text: str, limit: int) -> int:
    if len(text) > limit:  # every character is at least one byte: no need to encode a huge string
        return len(text)
    return len(text.encode("utf-8", errors="surrogatepass"))


def _describe(exc: ValidationError) -> str:
    """The first validation error as ``where: what``, in the protocol's words."""
    first = exc.errors(include_url=False, include_input=False)[0]
    kind, loc, msg = first["type"], first["loc"], first["msg"]
    if kind == "json_invalid":
        return f"not JSON: {msg.removeprefix('Invalid JSON: ')}"
    if kind == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag", "?")
        return f"unknown message type {str(tag)[:40]!r} (expected one of {', '.join(_types_of(exc))})"
    if kind == "union_tag_not_found":
        return "message has no 'type' field"
    if kind in ("model_attributes_type", "model_type", "dict_type") and not loc:
        return "message is not a JSON object"
    where = ".".join(str(part) for part in loc)
    return f"{where}: {msg}" if where else msg


def _types_of(exc: ValidationError) -> list[str]:
    first = exc.errors(include_url=False, include_input=False)[0]
    expected = str(first.get("ctx", {}).get("expected_tags", ""))
    return [tag.strip(" '") for tag in expected.split(",")] if expected else list(CLIENT_TYPES)
