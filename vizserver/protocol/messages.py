"""Control messages of protocol v1 (docs/protocol.md): JSON over WebSocket text messages, a ``type`` each.

Pure encode/decode, no I/O. Client messages are validated strictly (no type coercion: ``"1"`` is
not an int, ``true`` is not a number; NaN and infinities are refused; unknown fields are refused;
every string and list is bounded), so anything a browser or an attacker sends either becomes one
of the models below or a :class:`ProtocolError` whose one-line message names the problem.
Server messages are built by our code; they are validated too, so a bug shows at the sender.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from vizserver.config import (
    MAX_CLIENT_NAME_CHARS,
    MAX_CONTROL_MESSAGE_BYTES,
    MAX_FIELD_FRAME_BYTES,
    MAX_SERVER_MESSAGE_BYTES,
    MAX_TIME_STEPS,
    PLAYBACK_MAX_SPEED,
    PLAYBACK_MIN_SPEED,
)
from vizserver.protocol.collab_messages import (
    MAX_ANNOTATIONS_LISTED as MAX_ANNOTATIONS_LISTED,
)
from vizserver.protocol.collab_messages import (
    MAX_MEMBERS_LISTED as MAX_MEMBERS_LISTED,
)
from vizserver.protocol.collab_messages import (
    MAX_STROKE_WIRE_POINTS as MAX_STROKE_WIRE_POINTS,
)
from vizserver.protocol.collab_messages import (
    MAX_TOUR_STEPS_LISTED as MAX_TOUR_STEPS_LISTED,
)
from vizserver.protocol.collab_messages import (
    AllowSteering as AllowSteering,
)
from vizserver.protocol.collab_messages import (
    AnnotationAdd as AnnotationAdd,
)
from vizserver.protocol.collab_messages import (
    AnnotationClear as AnnotationClear,
)
from vizserver.protocol.collab_messages import (
    AnnotationDelete as AnnotationDelete,
)
from vizserver.protocol.collab_messages import (
    AnnotationDeleted as AnnotationDeleted,
)
from vizserver.protocol.collab_messages import (
    AnnotationInfo as AnnotationInfo,
)
from vizserver.protocol.collab_messages import (
    AnnotationMessage as AnnotationMessage,
)
from vizserver.protocol.collab_messages import (
    AnnotationRequest as AnnotationRequest,
)
from vizserver.protocol.collab_messages import (
    AnnotationsMessage as AnnotationsMessage,
)
from vizserver.protocol.collab_messages import (
    EndSession as EndSession,
)
from vizserver.protocol.collab_messages import (
    FollowRequest as FollowRequest,
)
from vizserver.protocol.collab_messages import (
    FollowState as FollowState,
)
from vizserver.protocol.collab_messages import (
    HexColor as HexColor,
)
from vizserver.protocol.collab_messages import (
    LowerHand as LowerHand,
)
from vizserver.protocol.collab_messages import (
    MemberId as MemberId,
)
from vizserver.protocol.collab_messages import (
    MemberInfo as MemberInfo,
)
from vizserver.protocol.collab_messages import (
    MemberRequest as MemberRequest,
)
from vizserver.protocol.collab_messages import (
    MembersMessage as MembersMessage,
)
from vizserver.protocol.collab_messages import (
    PinInfo as PinInfo,
)
from vizserver.protocol.collab_messages import (
    RaiseHand as RaiseHand,
)
from vizserver.protocol.collab_messages import (
    RemoveMember as RemoveMember,
)
from vizserver.protocol.collab_messages import (
    ReturnPresenter as ReturnPresenter,
)
from vizserver.protocol.collab_messages import (
    RoleName as RoleName,
)
from vizserver.protocol.collab_messages import (
    SessionEnded as SessionEnded,
)
from vizserver.protocol.collab_messages import (
    SetRole as SetRole,
)
from vizserver.protocol.collab_messages import (
    StrokeInfo as StrokeInfo,
)
from vizserver.protocol.collab_messages import (
    Text as Text,
)
from vizserver.protocol.collab_messages import (
    TourCamera as TourCamera,
)
from vizserver.protocol.collab_messages import (
    TourClip as TourClip,
)
from vizserver.protocol.collab_messages import (
    TourModeName as TourModeName,
)
from vizserver.protocol.collab_messages import (
    TourModeRequest as TourModeRequest,
)
from vizserver.protocol.collab_messages import (
    TourMove as TourMove,
)
from vizserver.protocol.collab_messages import (
    TourOutline as TourOutline,
)
from vizserver.protocol.collab_messages import (
    TourProgress as TourProgress,
)
from vizserver.protocol.collab_messages import (
    TourRequest as TourRequest,
)
from vizserver.protocol.collab_messages import (
    TourStepMessage as TourStepMessage,
)
from vizserver.protocol.collab_messages import (
    Vec3 as Vec3,
)
from vizserver.protocol.message_base import (
    MAX_ERROR_TEXT_CHARS as MAX_ERROR_TEXT_CHARS,
)
from vizserver.protocol.message_base import (
    MAX_LODS as MAX_LODS,
)
from vizserver.protocol.message_base import (
    MAX_NAME_CHARS as MAX_NAME_CHARS,
)
from vizserver.protocol.message_base import (
    MAX_OBJECT_FIELDS as MAX_OBJECT_FIELDS,
)
from vizserver.protocol.message_base import (
    MAX_SCENE_OBJECTS as MAX_SCENE_OBJECTS,
)
from vizserver.protocol.message_base import (
    MAX_TEXT_CHARS as MAX_TEXT_CHARS,
)
from vizserver.protocol.message_base import (
    MAX_URL_CHARS as MAX_URL_CHARS,
)
from vizserver.protocol.message_base import (
    PROTOCOL_VERSION as PROTOCOL_VERSION,
)
from vizserver.protocol.message_base import (
    U32 as U32,
)
from vizserver.protocol.message_base import (
    U32_MAX as U32_MAX,
)
from vizserver.protocol.message_base import (
    ClientMessageBase as ClientMessageBase,
)
from vizserver.protocol.message_base import (
    CloseCode as CloseCode,
)
from vizserver.protocol.message_base import (
    ErrorCode as ErrorCode,
)
from vizserver.protocol.message_base import (
    Finite as Finite,
)
from vizserver.protocol.message_base import (
    MessageBase as MessageBase,
)
from vizserver.protocol.message_base import (
    Name as Name,
)
from vizserver.protocol.message_base import (
    ProtocolError as ProtocolError,
)
from vizserver.protocol.message_base import (
    omit_none as omit_none,
)
from vizserver.protocol.message_base import (
    one_line as one_line,
)

# --- client -> server ---


class Resume(ClientMessageBase):
    client_id: Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_NAME_CHARS)]


class Hello(ClientMessageBase):
    type: Literal["hello"] = "hello"
    protocol: Annotated[int, Field(ge=0, le=U32_MAX)]
    client: Annotated[str, Field(max_length=MAX_CLIENT_NAME_CHARS)]
    resume: Resume | None = Field(default=None, exclude_if=omit_none)


class Subscribe(ClientMessageBase):
    type: Literal["subscribe"] = "subscribe"
    object: U32
    field: U32 | None


class PlaybackRequest(ClientMessageBase):
    type: Literal["playback"] = "playback"
    playing: bool | None = Field(default=None, exclude_if=omit_none)
    step: U32 | None = Field(default=None, exclude_if=omit_none)
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED, allow_inf_nan=False)] | None = Field(
        default=None, exclude_if=omit_none
    )
    loop: bool | None = Field(default=None, exclude_if=omit_none)


class KeyframeRequest(ClientMessageBase):
    type: Literal["keyframe"] = "keyframe"
    object: U32
    field: U32


class Ping(ClientMessageBase):
    type: Literal["ping"] = "ping"
    t: Finite


MAX_SERVERS = 64
"""Most server URLs in ``welcome.servers``."""

MAX_TWIN_VALUES = 64
"""Most parameters in one ``twin_params``."""

ParamJSON = bool | int | Finite | Name
"""A parameter value on the wire (strict: ``true`` is a bool, ``1`` an int, ``1.5`` a float)."""


class TwinParams(ClientMessageBase):
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


class TwinAction(ClientMessageBase):
    type: Literal["twin_action"] = "twin_action"
    seq: U32
    action: Name
    point: tuple[Finite, Finite, Finite] | None = Field(default=None, exclude_if=omit_none)


class TwinControl(ClientMessageBase):
    type: Literal["twin_control"] = "twin_control"
    seq: U32
    playing: bool | None = Field(default=None, exclude_if=omit_none)
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED, allow_inf_nan=False)] | None = Field(
        default=None, exclude_if=omit_none
    )
    reset: bool | None = Field(default=None, exclude_if=omit_none)


TwinRequest = TwinParams | TwinAction | TwinControl


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


class ServerLimits(MessageBase):
    control_bytes: int = MAX_CONTROL_MESSAGE_BYTES
    frame_bytes: int = MAX_FIELD_FRAME_BYTES


class Welcome(MessageBase):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    client_id: Name
    session_id: Name
    role: Name
    server: Name
    limits: ServerLimits = ServerLimits()
    member: Name | None = Field(default=None, exclude_if=omit_none)
    """This client's member id (as in ``members``); a member's connections share it."""
    servers: Annotated[list[Name], Field(max_length=MAX_SERVERS)] | None = Field(default=None, exclude_if=omit_none)
    """With ``--redis``: the public URLs of the live server processes, to reconnect to another one (1012)."""


class FieldInfo(MessageBase):
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


class TimeInfo(MessageBase):
    steps: Annotated[int, Field(ge=0, le=MAX_TIME_STEPS)]
    times: Annotated[list[Finite], Field(max_length=MAX_TIME_STEPS)]
    unit: Name = ""

    @model_validator(mode="after")
    def _one_time_per_step(self) -> TimeInfo:
        if len(self.times) != self.steps:
            raise ValueError(f"{len(self.times)} times for {self.steps} steps")
        return self


IDENTITY_TRANSFORM: tuple[float, ...] = (1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0)


class SceneObjectInfo(MessageBase):
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


class SceneMessage(MessageBase):
    type: Literal["scene"] = "scene"
    revision: Annotated[int, Field(ge=0)]
    title: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    objects: Annotated[list[SceneObjectInfo], Field(max_length=MAX_SCENE_OBJECTS)]


class PlaybackState(MessageBase):
    type: Literal["playback"] = "playback"
    playing: bool
    step: U32
    time: Finite
    speed: Annotated[float, Field(ge=PLAYBACK_MIN_SPEED, le=PLAYBACK_MAX_SPEED)]
    loop: bool
    steps: Annotated[int, Field(ge=0)]
    fps: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class UploadStatus(MessageBase):
    type: Literal["upload"] = "upload"
    upload_id: Name
    name: Name
    stage: Literal["received", "converting", "done", "failed"]
    fraction: Annotated[float, Field(ge=0.0, le=1.0)]
    error: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None = Field(default=None, exclude_if=omit_none)


class ErrorMessage(MessageBase):
    type: Literal["error"] = "error"
    code: Name
    message: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    seq: U32 | None = Field(default=None, exclude_if=omit_none)
    """The ``seq`` of the twin request refused."""

    @classmethod
    def of(cls, error: ProtocolError) -> ErrorMessage:
        """The ``error`` message that answers ``error``."""
        return cls(code=str(error.code), message=str(error))


class Pong(MessageBase):
    type: Literal["pong"] = "pong"
    t: Finite


class ParameterInfo(MessageBase):
    name: Name
    type: Literal["float", "int", "bool", "choice"]
    default: ParamJSON
    unit: Name = ""
    minimum: Finite | None = Field(default=None, exclude_if=omit_none)
    maximum: Finite | None = Field(default=None, exclude_if=omit_none)
    choices: Annotated[list[Name], Field(max_length=MAX_TWIN_VALUES)] | None = Field(
        default=None, exclude_if=omit_none
    )
    description: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] = ""


class ActionInfo(MessageBase):
    name: Name
    description: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] = ""
    needs_point: bool = True


class OutputInfo(MessageBase):
    name: Name
    unit: Name = ""
    range: tuple[Finite, Finite]


TwinStateName = Literal["starting", "running", "paused", "restarting", "failed"]


class TwinStatus(MessageBase):
    """Everything a client shows of a session's twin; sent on connect and whenever it changes."""

    type: Literal["twin"] = "twin"
    object: U32
    state: TwinStateName
    message: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None = Field(default=None, exclude_if=omit_none)
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


class TwinApplied(MessageBase):
    """To the client whose request ``seq`` was first computed in twin frame ``frame``."""

    type: Literal["twin_applied"] = "twin_applied"
    seq: U32
    frame: U32
    time: Finite




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
