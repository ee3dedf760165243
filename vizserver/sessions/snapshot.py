"""A session as a versioned plain-JSON snapshot, and back: what the server saves so a restart loses nothing.

Pure: no file, no clock (callers pass ``now``, a monotonic reading, and ``wall``, seconds since the
epoch, taken at the same moment). Monotonic times of the live session (creation, member joins,
the playback anchor) are stored as epoch seconds and mapped back on restore, so a join code still
expires 24 h after the session was made, across restarts.

Taking a snapshot is two steps so the event loop does the cheap one: :func:`capture` copies
references to the session's (immutable) parts; :func:`encode` (in a thread) hashes tokens and
writes JSON. :func:`decode` checks a saved text strictly and raises :class:`SnapshotError` (one
line) on anything wrong; :func:`restore` builds the live :class:`Session` on its scene.

Tokens are never stored: a member is saved with ``token_sha256``, the SHA-256 of its token, and
restored keyed by that digest (:data:`~vizserver.sessions.members.TOKEN_HASH_PREFIX`); the first
time its holder presents the token, the roster recognises it and keys the member by the token
again (:meth:`~vizserver.sessions.members.Roster.by_token`). A stolen store file gives no way in.

Format (``version`` 1)::

    {"format": "vizserver-session", "version": 1, "id": "...", "join_code": "ABC234",
     "created": 1764118800.0, "saved": 1764119000.0, "last_active": 1764118990.0,
     "scene": {"path": "/abs/scenes/heart.yaml", "title": "Heart"}, "default": false,
     "open": false, "steering_allowed": true,
     "roster": {"next_number": 3, "hands": ["m2"], "members": [
        {"id": "m1", "token_sha256": "<64 hex>", "role": "host", "name": "host", "color": "#e6194b",
         "created": 1764118800.0, "role_before_presenter": null}, ...]},
     "playback": {"playing": false, "position": 3.0, "speed": 1.0, "loop": true},
     "twin": {"params": {"cycle_length": 400}} | null,
     "annotations": <the AnnotationStore export (sessions/annotations.py)>,
     "tour": {"mode": "guided", "guided_index": 2, "member_steps": {"m2": 1}} | null}

Not saved: connections (a client reconnecting after a restart gets a new client id but the same
member: id, name, colour, role), objects added by uploads (and pins on them), presence, the twin's
simulated time (it restarts from its saved parameters).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vizserver.config import PLAYBACK_MAX_SPEED, PLAYBACK_MIN_SPEED
from vizserver.errors import InputError
from vizserver.scenes.objects import BuiltScene
from vizserver.server.settings import MAX_TOKENS_PER_SESSION
from vizserver.sessions.annotations import AnnotationError, AnnotationStore
from vizserver.sessions.members import TOKEN_HASH_PREFIX, Member, Roster, token_digest
from vizserver.sessions.playback import Playback
from vizserver.sessions.roles import ROLES, Role
from vizserver.sessions.session import Session
from vizserver.sessions.tours import TOUR_MODES, TourMode, TourState
from vizserver.twins.base import ParamValue

SNAPSHOT_FORMAT = "vizserver-session"
SNAPSHOT_VERSION = 1
MAX_SNAPSHOT_BYTES = 64 << 20
"""Largest saved session read back (annotations at every limit are about 6 MB)."""
MAX_ID_CHARS = 128
MAX_NAME_CHARS = 256
MAX_TWIN_PARAMS = 256

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_MEMBER_ID = re.compile(r"^m[1-9][0-9]{0,8}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class SnapshotError(InputError):
    """A saved session cannot be read back; the message says which part is wrong."""


# --- the snapshot ---


@dataclass(frozen=True, slots=True)
class PlaybackSnapshot:
    playing: bool
    position: float
    """Fractional step at the moment of saving."""
    speed: float
    loop: bool


@dataclass(frozen=True, slots=True)
class TourSnapshot:
    mode: TourMode
    guided_index: int
    member_steps: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """One session as saved. Times are epoch seconds; members keep their live tokens until :func:`encode`."""

    id: str
    join_code: str
    created: float
    saved: float
    last_active: float
    scene_path: str
    title: str
    default: bool
    open: bool
    steering_allowed: bool
    members: tuple[Member, ...]
    """In join order; ``created`` in epoch seconds; ``token`` is the token (live) or ``sha256:<hex>``."""
    hands: tuple[str, ...]
    next_number: int
    playback: PlaybackSnapshot
    twin_params: Mapping[str, ParamValue] | None
    annotations: AnnotationStore | Mapping[str, Any]
    """Captured: a copy of the store (its items are immutable); decoded: the saved export, checked on restore."""
    tour: TourSnapshot | None


def capture(
    session: Session,
    *,
    scene_path: str,
    default: bool,
    now: float,
    wall: float,
    twin_params: Mapping[str, ParamValue] | None = None,
    active_at: float | None = None,
) -> SessionSnapshot:
    """The session now, by shallow copies of immutable parts (cheap: call it on the event loop).

    ``scene_path``: the scene file it shows; ``default``: it is the server's default session on that file;
    ``twin_params``: its live twin's current parameters, if it has one; ``active_at``: someone was connected
    at least this recently (a restored session nobody has rejoined: its last activity before the restart).
    """
    to_wall = wall - now
    annotations, tour = session.annotations, session.tour
    idle = session.idle_since()
    if idle is not None and active_at is not None:
        idle = max(idle, active_at)
    members = tuple(dataclasses.replace(m, created=m.created + to_wall) for m in session.roster)
    return SessionSnapshot(
        id=session.id,
        join_code=session.join_code,
        created=session.created + to_wall,
        saved=wall,
        last_active=wall if idle is None else idle + to_wall,
        scene_path=scene_path,
        title=session.title,
        default=default,
        open=session.open,
        steering_allowed=session.steering_allowed,
        members=members,
        hands=tuple(session.roster.hands),
        next_number=session.roster.next_number,
        playback=PlaybackSnapshot(session.playback.playing, session.playback.position(now),
                                  session.playback.speed, session.playback.loop),
        twin_params=None if twin_params is None else {k: _plain(v) for k, v in twin_params.items()},
        annotations=AnnotationStore(dict(annotations.items), annotations.next_id),
        tour=None if tour is None else TourSnapshot(tour.mode, tour.guided_index, dict(tour.member_steps)),
    )


class EncodeCache:
    """The annotations' JSON of each session as last encoded, reused while they have not changed.

    Annotations change far less often than the rest of a session but are most of its bytes (a session
    at every annotation limit is ~2 MB, ~0.1-0.5 s to encode). Items never change in place (they are
    only added and deleted, and ids are never reused), so the ids and ``next_id`` say whether they did.
    Used from one thread.
    """

    def __init__(self) -> None:
        self._texts: dict[str, tuple[tuple[int, tuple[int, ...]], str]] = {}

    def annotations_json(self, session_id: str, store: AnnotationStore) -> str:
        key = (store.next_id, tuple(store.items))
        hit = self._texts.get(session_id)
        if hit is not None and hit[0] == key:
            return hit[1]
        text = store.to_json()
        self._texts[session_id] = (key, text)
        return text

    def forget(self, session_id: str) -> None:
        self._texts.pop(session_id, None)


def _plain(value: ParamValue | np.generic) -> ParamValue:
    """A twin parameter as a JSON value (a schema may hand back numpy scalars)."""
    if isinstance(value, np.generic):
        plain: ParamValue = value.item()
        return plain
    return value


def encode(snapshot: SessionSnapshot, cache: EncodeCache | None = None) -> str:
    """The snapshot as JSON text (tokens replaced by their SHA-256); may take a while: run it off the loop."""
    document: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "id": snapshot.id,
        "join_code": snapshot.join_code,
        "created": snapshot.created,
        "saved": snapshot.saved,
        "last_active": snapshot.last_active,
        "scene": {"path": snapshot.scene_path, "title": snapshot.title},
        "default": snapshot.default,
        "open": snapshot.open,
        "steering_allowed": snapshot.steering_allowed,
        "roster": {
            "next_number": snapshot.next_number,
            "hands": list(snapshot.hands),
            "members": [_member_dict(m) for m in snapshot.members],
        },
        "playback": dataclasses.asdict(snapshot.playback),
        "twin": None if snapshot.twin_params is None else {"params": dict(snapshot.twin_params)},
        "tour": None if snapshot.tour is None else {
            "mode": snapshot.tour.mode, "guided_index": snapshot.tour.guided_index,
            "member_steps": dict(snapshot.tour.member_steps),
        },
    }
    annotations = snapshot.annotations
    if isinstance(annotations, AnnotationStore):
        cache = cache or EncodeCache()
        annotations_text = cache.annotations_json(snapshot.id, annotations)
    else:
        annotations_text = json.dumps(annotations, separators=(",", ":"), allow_nan=False)
    head = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return f'{head[:-1]},"annotations":{annotations_text}}}'  # the export's text as it is: no second encoding


def _annotations_document(annotations: AnnotationStore | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(annotations, AnnotationStore):
        document: dict[str, Any] = json.loads(annotations.to_json())
        return document
    return annotations


def _member_dict(member: Member) -> dict[str, Any]:
    digest = member.token.removeprefix(TOKEN_HASH_PREFIX) if member.token.startswith(TOKEN_HASH_PREFIX) \
        else token_digest(member.token)
    return {"id": member.id, "token_sha256": digest, "role": member.role, "name": member.name,
            "color": member.color, "created": member.created, "role_before_presenter": member.role_before_presenter}


# --- reading back ---


def peek_version(text: str | bytes) -> int | None:
    """The ``version`` a saved text claims, if it is a JSON object that says one (to tell "newer" from "corrupt")."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    version = raw.get("version") if isinstance(raw, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def decode(text: str | bytes) -> SessionSnapshot:
    """A saved session, checked strictly; :class:`SnapshotError` says what is wrong in one line.

    Annotations are checked against the scene later (:func:`restore`), when its objects are known.
    """
    if len(text) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"saved session is over {MAX_SNAPSHOT_BYTES:,} bytes")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"saved session is not valid JSON ({exc})") from None
    doc = _object(raw, "saved session")
    if doc.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"saved session: format is {doc.get('format')!r}, not {SNAPSHOT_FORMAT!r}")
    version = doc.get("version")
    if version != SNAPSHOT_VERSION or isinstance(version, bool):
        raise SnapshotError(f"saved session: version {version!r} is not supported (this server reads "
                            f"{SNAPSHOT_VERSION}; a newer vizserver wrote it?)")
    try:
        session_id = _text(doc, "id", MAX_ID_CHARS)
    except SnapshotError as exc:
        raise SnapshotError(f"saved session: {exc}") from None
    try:
        return _decode(doc, session_id)
    except SnapshotError as exc:
        raise SnapshotError(f"saved session {session_id}: {exc}") from None


def _decode(doc: dict[str, Any], session_id: str) -> SessionSnapshot:
    scene = _object(doc.get("scene"), "scene")
    roster = _object(doc.get("roster"), "roster")
    members = _members(roster.get("members"))
    ids = {m.id for m in members}
    hands = roster.get("hands")
    if not isinstance(hands, list) or not all(isinstance(h, str) and h in ids for h in hands) \
            or len(set(hands)) != len(hands):
        raise SnapshotError("roster.hands must list distinct ids of members")
    next_number = _int(roster, "next_number", 1)
    if any(int(m.id[1:]) >= next_number for m in members):
        raise SnapshotError(f"roster.next_number {next_number} is not above every member's number")
    twin = doc.get("twin")
    tour = doc.get("tour")
    annotations = _object(doc.get("annotations"), "annotations")
    return SessionSnapshot(
        id=session_id,
        join_code=_text(doc, "join_code", MAX_ID_CHARS),
        created=_time(doc, "created"),
        saved=_time(doc, "saved"),
        last_active=_time(doc, "last_active"),
        scene_path=_text(scene, "path", 4096),
        title=_text(scene, "title", MAX_NAME_CHARS, empty=True),
        default=_bool(doc, "default"),
        open=_bool(doc, "open"),
        steering_allowed=_bool(doc, "steering_allowed"),
        members=members,
        hands=tuple(hands),
        next_number=next_number,
        playback=_playback(_object(doc.get("playback"), "playback")),
        twin_params=None if twin is None else _twin_params(_object(twin, "twin").get("params")),
        annotations=annotations,
        tour=None if tour is None else _tour(_object(tour, "tour"), ids),
    )


def _members(raw: object) -> tuple[Member, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_TOKENS_PER_SESSION:
        raise SnapshotError(f"roster.members must be a list of at most {MAX_TOKENS_PER_SESSION}")
    members = []
    for entry in raw:
        m = _object(entry, "member")
        member_id = _text(m, "id", 16)
        if not _MEMBER_ID.match(member_id):
            raise SnapshotError(f"member id {member_id!r} is not m<number>")
        digest = _text(m, "token_sha256", 64)
        if not _DIGEST.match(digest):
            raise SnapshotError(f"member {member_id}: token_sha256 is not 64 lowercase hex digits")
        role, before = m.get("role"), m.get("role_before_presenter")
        if role not in ROLES or (before is not None and before not in ROLES):
            raise SnapshotError(f"member {member_id}: role {role!r} / role_before_presenter {before!r} unknown")
        color = _text(m, "color", 7)
        if not _COLOR.match(color):
            raise SnapshotError(f"member {member_id}: color {color!r} is not #rrggbb")
        members.append(Member(member_id, TOKEN_HASH_PREFIX + digest, _role(role), _text(m, "name", MAX_NAME_CHARS),
                              color, _time(m, "created"), None if before is None else _role(before)))
    if len({m.id for m in members}) != len(members) or len({m.token for m in members}) != len(members):
        raise SnapshotError("two members share an id or a token")
    roles = [m.role for m in members]
    if roles.count("host") > 1 or roles.count("presenter") > 1:
        raise SnapshotError("more than one host or presenter")
    return tuple(members)


def _role(value: object) -> Role:
    return next(r for r in ROLES if r == value)


def _playback(p: dict[str, Any]) -> PlaybackSnapshot:
    position, speed = _number(p, "position"), _number(p, "speed")
    if position < 0:
        raise SnapshotError(f"playback.position {position} is negative")
    if not PLAYBACK_MIN_SPEED <= speed <= PLAYBACK_MAX_SPEED:
        raise SnapshotError(f"playback.speed {speed} is outside {PLAYBACK_MIN_SPEED} to {PLAYBACK_MAX_SPEED}")
    return PlaybackSnapshot(_bool(p, "playing"), position, speed, _bool(p, "loop"))


def _twin_params(raw: object) -> dict[str, ParamValue]:
    params = _object(raw, "twin.params")
    if len(params) > MAX_TWIN_PARAMS:
        raise SnapshotError(f"twin.params has over {MAX_TWIN_PARAMS} entries")
    for name, value in params.items():
        plain = isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value))
        if not plain or len(name) > MAX_NAME_CHARS:
            raise SnapshotError(f"twin.params[{name[:40]!r}] is not a number, boolean or text")
    return dict(params)


def _tour(t: dict[str, Any], member_ids: set[str]) -> TourSnapshot:
    mode = t.get("mode")
    if mode not in TOUR_MODES:
        raise SnapshotError(f"tour.mode {mode!r} is not one of {', '.join(TOUR_MODES)}")
    steps = _object(t.get("member_steps"), "tour.member_steps")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in steps.values()):
        raise SnapshotError("tour.member_steps must map member ids to steps >= 0")
    return TourSnapshot(next(m for m in TOUR_MODES if m == mode), _int(t, "guided_index", 0),
                        {k: v for k, v in steps.items() if k in member_ids})


# --- restoring ---


def restore(snapshot: SessionSnapshot, scene: BuiltScene, now: float, wall: float) -> tuple[Session, list[str]]:
    """The live session of ``snapshot`` on ``scene`` (its scene file, built again), and notes on what was dropped.

    :class:`SnapshotError` when its annotations do not fit the scene at all. Members come back keyed by
    their token's digest; playback resumes from where it was saved (re-anchored at ``now``).
    """
    to_now = now - wall
    notes: list[str] = []
    session = Session.of_scene(snapshot.id, snapshot.join_code, scene, snapshot.created + to_now)
    session.open, session.steering_allowed = snapshot.open, snapshot.steering_allowed
    members = {m.token: dataclasses.replace(m, created=m.created + to_now) for m in snapshot.members}
    session.roster = Roster(members, list(snapshot.hands), snapshot.next_number)
    session.playback = _restored_playback(session.playback, snapshot.playback, now)
    document = _annotations_document(snapshot.annotations)
    session.annotations, dropped = restore_annotations(document, len(scene.objects))
    if dropped:
        notes.append(f"{dropped} pin(s) on objects no longer in the scene (uploads) were dropped")
    return session, notes


def restore_annotations(document: Mapping[str, Any], object_count: int) -> tuple[AnnotationStore, int]:
    """The saved annotations on a scene of ``object_count`` objects; pins on other objects are dropped (counted)."""
    entries = document.get("annotations")
    dropped = 0
    if isinstance(entries, list):
        kept = [e for e in entries if not _pin_elsewhere(e, object_count)]
        dropped = len(entries) - len(kept)
        document = {**document, "annotations": kept}
    try:
        return AnnotationStore.from_json(json.dumps(document), range(object_count)), dropped
    except AnnotationError as exc:
        raise SnapshotError(str(exc)) from None


def _pin_elsewhere(entry: object, object_count: int) -> bool:
    if not isinstance(entry, dict) or entry.get("kind") != "pin":
        return False
    obj = entry.get("object")
    return isinstance(obj, int) and not isinstance(obj, bool) and not 0 <= obj < object_count


def restore_tour(state: TourState, saved: TourSnapshot) -> None:
    """Put a session's tour where it was saved (steps clamped to the tour, which may have changed)."""
    last = max(len(state.tour) - 1, 0)
    state.mode = saved.mode
    state.guided_index = min(saved.guided_index, last)
    state.member_steps = {m: min(s, last) for m, s in saved.member_steps.items()} if saved.mode == "self_paced" else {}


def _restored_playback(fresh: Playback, saved: PlaybackSnapshot, now: float) -> Playback:
    position = min(saved.position, float(fresh.last_step)) if fresh.steps else 0.0
    return dataclasses.replace(fresh, playing=saved.playing and fresh.steps > 1, speed=saved.speed, loop=saved.loop,
                               anchor_step=position, anchor_time=now)


# --- field checks ---


def _no_constant(name: str) -> float:
    raise SnapshotError(f"saved session holds {name}, which JSON does not allow")


def _object(raw: object, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SnapshotError(f"{what} must be an object")
    return raw


def _text(doc: dict[str, Any], key: str, limit: int, empty: bool = False) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or len(value) > limit or (not value and not empty):
        raise SnapshotError(f"{key} must be a {'' if empty else 'non-empty '}string of at most {limit} characters")
    return value


def _bool(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key)
    if not isinstance(value, bool):
        raise SnapshotError(f"{key} must be true or false")
    return value


def _number(doc: dict[str, Any], key: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SnapshotError(f"{key} must be a finite number")
    return float(value)


def _int(doc: dict[str, Any], key: str, minimum: int) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SnapshotError(f"{key} must be an integer >= {minimum}")
    return value


def _time(doc: dict[str, Any], key: str) -> float:
    value = _number(doc, key)
    if value < 0:
        raise SnapshotError(f"{key} must be seconds since the epoch")
    return value

