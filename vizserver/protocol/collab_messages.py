"""Control messages of shared sessions (docs/protocol.md "Roles", "Annotations and tours", "Follow me"):
members and roles, annotations, tours and follow-me, client requests and server messages. Pure, no I/O;
the unions and the codec are in :mod:`vizserver.protocol.messages`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vizserver.protocol.message_base import (
    MAX_NAME_CHARS,
    MAX_SCENE_OBJECTS,
    MAX_TEXT_CHARS,
    U32,
    ClientMessageBase,
    Finite,
    MessageBase,
    Name,
    omit_none,
)

# --- members and roles (docs/protocol.md "Roles") ---

RoleName = Literal["host", "presenter", "participant", "observer"]
MemberId = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class SetRole(ClientMessageBase):
    """Host: give ``member`` a role; ``presenter`` hands the presenter role over (one presenter at a time)."""

    type: Literal["set_role"] = "set_role"
    member: MemberId
    role: Literal["presenter", "participant", "observer"]


class ReturnPresenter(ClientMessageBase):
    """Host (take it back) or presenter (hand it back): the presenter role returns to the host."""

    type: Literal["return_presenter"] = "return_presenter"


class RemoveMember(ClientMessageBase):
    type: Literal["remove_member"] = "remove_member"
    member: MemberId


class AllowSteering(ClientMessageBase):
    """Host: participants may (``true``) or may not (``false``) steer the twin."""

    type: Literal["allow_steering"] = "allow_steering"
    allowed: bool


class EndSession(ClientMessageBase):
    type: Literal["end_session"] = "end_session"


class RaiseHand(ClientMessageBase):
    type: Literal["raise_hand"] = "raise_hand"


class LowerHand(ClientMessageBase):
    """Lower ``member``'s hand (host, presenter), or one's own (no ``member``)."""

    type: Literal["lower_hand"] = "lower_hand"
    member: MemberId | None = Field(default=None, exclude_if=omit_none)


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


class AnnotationAdd(ClientMessageBase):
    """A pin (``object``, ``point``, ``normal?``, ``text``) or a stroke (``points``, ``width``); ``color`` defaults
    to the member's colour. The session checks the limits (text length, points per stroke, quotas)."""

    type: Literal["annotation_add"] = "annotation_add"
    kind: Literal["pin", "stroke"]
    object: U32 | None = Field(default=None, exclude_if=omit_none)
    point: Vec3 | None = Field(default=None, exclude_if=omit_none)
    normal: Vec3 | None = Field(default=None, exclude_if=omit_none)
    text: Text | None = Field(default=None, exclude_if=omit_none)
    points: Annotated[list[Vec3], Field(max_length=MAX_STROKE_WIRE_POINTS)] | None = Field(
        default=None, exclude_if=omit_none
    )
    width: Finite | None = Field(default=None, exclude_if=omit_none)
    color: HexColor | None = Field(default=None, exclude_if=omit_none)

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


class AnnotationDelete(ClientMessageBase):
    """Delete one annotation: its author or the host."""

    type: Literal["annotation_delete"] = "annotation_delete"
    id: U32


class AnnotationClear(ClientMessageBase):
    """Delete every annotation of ``author`` (default: the sender's own), or with ``all`` everyone's (the host)."""

    type: Literal["annotation_clear"] = "annotation_clear"
    author: MemberId | None = Field(default=None, exclude_if=omit_none)
    all: bool | None = Field(default=None, exclude_if=omit_none)

    @model_validator(mode="after")
    def _one_target(self) -> AnnotationClear:
        if self.all and self.author is not None:
            raise ValueError("give author or all, not both")
        return self


class TourMove(ClientMessageBase):
    """Guided: the presenter moves everyone; self-paced: a member moves their own step."""

    type: Literal["tour"] = "tour"
    move: Literal["next", "prev", "goto"]
    step: U32 | None = Field(default=None, exclude_if=omit_none)

    @model_validator(mode="after")
    def _step_with_goto(self) -> TourMove:
        if (self.move == "goto") != (self.step is not None):
            raise ValueError("step goes with move 'goto' (and only with it)")
        return self


class TourModeRequest(ClientMessageBase):
    """Start, switch or stop the tour; ``start``: the step to begin at."""

    type: Literal["tour_mode"] = "tour_mode"
    mode: TourModeName
    start: U32 | None = Field(default=None, exclude_if=omit_none)


AnnotationRequest = AnnotationAdd | AnnotationDelete | AnnotationClear
TourRequest = TourMove | TourModeRequest


class FollowRequest(ClientMessageBase):
    """Presenter or host: everyone's view follows the sender's (``on``), desktop cameras locked with ``lock``;
    ``on: false`` releases everyone (docs/protocol.md "Follow me")."""

    type: Literal["follow"] = "follow"
    on: bool
    lock: bool = False


# --- server -> client ---


MAX_MEMBERS_LISTED = 1024
"""Most members in one ``members`` message (a session remembers at most ``MAX_TOKENS_PER_SESSION``)."""


class MemberInfo(MessageBase):
    id: Name
    name: Name
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
    role: RoleName
    hand_raised: bool
    connected: bool


class MembersMessage(MessageBase):
    """Everyone who has connected to the session; sent to all on every join, leave and change."""

    type: Literal["members"] = "members"
    members: Annotated[list[MemberInfo], Field(max_length=MAX_MEMBERS_LISTED)]
    hands: Annotated[list[Name], Field(max_length=MAX_MEMBERS_LISTED)]
    """Ids of the members whose hand is raised, first raised first."""
    steering: bool
    """Participants may steer the twin."""
    open: bool
    """Participants have the presenter's rights (the server's default session)."""


class SessionEnded(MessageBase):
    """Sent to everyone just before the server closes every connection with 4010."""

    type: Literal["session_ended"] = "session_ended"
    reason: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class PinInfo(MessageBase):
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


class StrokeInfo(MessageBase):
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


class AnnotationsMessage(MessageBase):
    """Every annotation of the session, oldest first: on connect, after ``scene``."""

    type: Literal["annotations"] = "annotations"
    items: Annotated[list[AnnotationInfo], Field(max_length=MAX_ANNOTATIONS_LISTED)]


class AnnotationMessage(MessageBase):
    """One annotation was added (to everyone, its author included)."""

    type: Literal["annotation"] = "annotation"
    annotation: AnnotationInfo


class AnnotationDeleted(MessageBase):
    type: Literal["annotation_deleted"] = "annotation_deleted"
    ids: Annotated[list[U32], Field(max_length=MAX_ANNOTATIONS_LISTED)]
    by: Name
    """The member id of who deleted them."""


class TourOutline(MessageBase):
    """The scene's tour: on connect (when the scene has one) and to everyone whenever its mode changes."""

    type: Literal["tour"] = "tour"
    title: Text
    titles: Annotated[list[Text], Field(max_length=MAX_TOUR_STEPS_LISTED)]
    """Every step's title, in order."""
    count: U32
    mode: TourModeName
    step: U32
    """The guided step (where a guided tour is, or resumes)."""


class TourCamera(MessageBase):
    """Scene content coordinates (metres, z up)."""

    position: Vec3
    target: Vec3
    up: Vec3


class TourClip(MessageBase):
    axis: Literal["x", "y", "z"]
    position: Annotated[float, Field(ge=0.0, le=1.0)]
    """Fraction of the scene's bounds along ``axis``."""
    flip: bool


class TourStepMessage(MessageBase):
    """A step to show: to everyone (guided), or to one member (self-paced, and on connect)."""

    type: Literal["tour_step"] = "tour_step"
    mode: TourModeName
    step: U32
    count: U32
    title: Text
    caption: Text
    camera: TourCamera | None = Field(default=None, exclude_if=omit_none)
    """Left out when the step does not move the camera."""
    visible: Annotated[list[U32], Field(max_length=MAX_SCENE_OBJECTS)] | None
    """Object ids shown; ``null``: every object."""
    clip: TourClip | None
    """``null``: no clipping."""


class TourProgress(MessageBase):
    """To whoever may drive the tour (host, presenter), while it runs: each present member's step."""

    type: Literal["tour_progress"] = "tour_progress"
    mode: TourModeName
    count: U32
    steps: Annotated[dict[Name, U32], Field(max_length=MAX_MEMBERS_LISTED)]
    """Member id -> step."""


class FollowState(MessageBase):
    """Who everyone follows: to all when it changes, and on connect while someone leads."""

    type: Literal["follow"] = "follow"
    leader: Name | None
    """The leader's member id; ``null``: nobody leads (everyone has their own view)."""
    client: Name | None
    """The leader's connection (``presence_peers``' ``client_id``): whose presence the view follows."""
    lock: bool
    """Desktop cameras are locked to the leader's (no orbiting, no stopping)."""
