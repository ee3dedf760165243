"""The annotations of one session, pure: pins on object surfaces and free-hand 3D strokes.

Everything a client sends is checked here (types, finite coordinates, sizes, the scene's objects,
who may delete what) and refused with an :class:`AnnotationError` whose message is one line and
whose ``code`` the transport puts in its ``error`` message. Nothing here touches a socket, a file
or a clock: the caller passes ``now`` and the ids of the scene's objects.

Coordinates: a pin's ``point`` and ``normal`` are in its object's own coordinates (before the
object's transform, as a twin action's point), so the pin stays on the surface however the object
is placed; a stroke's points are in scene content coordinates (metres, z up).

Export (:meth:`AnnotationStore.to_json`, read back by :meth:`AnnotationStore.from_json`, which
checks everything again)::

    {"format": "vizserver-annotations", "version": 1, "next_id": 4,
     "annotations": [
       {"kind": "pin", "id": 1, "author": "m-3f2a", "color": "#ffcc00", "created": 1764118800.5,
        "object": 0, "point": [9.7, 0.0, -5.0], "normal": [1.0, 0.0, 0.0], "text": "scar here"},
       {"kind": "stroke", "id": 3, "author": "m-3f2a", "color": "#00aaff", "created": 1764118803.0,
        "points": [[0.0, 0.01, 0.0], [0.0, 0.012, 0.001]], "width": 0.002}]}

``created`` is seconds since the epoch; ``normal`` may be ``null``; ``next_id`` is the id the next
annotation gets (ids are never reused within a session).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vizserver.errors import InputError

ANNOTATIONS_FORMAT = "vizserver-annotations"
ANNOTATIONS_VERSION = 1

MAX_ANNOTATION_TEXT_CHARS = 500
MAX_ANNOTATIONS_PER_SESSION = 1000
MAX_ANNOTATIONS_PER_AUTHOR = 200
"""One member cannot fill the session's quota alone."""
MAX_STROKE_POINTS = 1024
"""A full stroke stays well under the 64 KiB control message; clients simplify longer ones."""
MIN_STROKE_POINTS = 2
MAX_STROKE_POINTS_PER_SESSION = 100_000
MAX_STROKE_WIDTH_M = 0.05
MAX_AUTHOR_CHARS = 64
MAX_ANNOTATIONS_JSON_BYTES = 16 << 20
"""An export at every limit is about 6 MB."""

ErrorCode = Literal["bad_annotation", "annotation_limit", "forbidden", "unknown_annotation"]
Vec3 = tuple[float, float, float]

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters other than tab and newline (a caption may have line breaks)."""


class AnnotationError(InputError):
    """An annotation request was refused; ``code`` is the protocol's error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code


@dataclass(frozen=True, slots=True)
class Pin:
    id: int
    author: str
    color: str
    created: float
    object: int
    point: Vec3
    normal: Vec3 | None
    """Unit length, or ``None`` when the client did not know the surface's normal."""
    text: str


@dataclass(frozen=True, slots=True)
class Stroke:
    id: int
    author: str
    color: str
    created: float
    points: tuple[Vec3, ...]
    width: float
    """Metres, in scene content coordinates."""


Annotation = Pin | Stroke


@dataclass(slots=True)
class AnnotationStore:
    """The annotations of one session, by id; change it only through its methods."""

    items: dict[int, Annotation] = field(default_factory=dict)
    next_id: int = 1

    # --- changes ---

    def add_pin(
        self,
        *,
        author: str,
        object_id: int,
        point: Sequence[float],
        text: str,
        color: str,
        now: float,
        objects: Container[int],
        normal: Sequence[float] | None = None,
    ) -> Pin:
        """Pin ``text`` to ``point`` on object ``object_id`` (one of ``objects``, the scene's object ids)."""
        pin = make_pin(self.next_id, author, object_id, point, normal, text, color, now, objects)
        self._admit(pin)
        return pin

    def add_stroke(
        self, *, author: str, points: Sequence[Sequence[float]], width: float, color: str, now: float
    ) -> Stroke:
        """A free-hand polyline through ``points`` (content coordinates, metres)."""
        stroke = make_stroke(self.next_id, author, points, width, color, now)
        self._admit(stroke)
        return stroke

    def delete(self, annotation_id: int, *, by: str, by_host: bool) -> Annotation:
        """Remove one annotation; only its author or the host may."""
        item = self.items.get(annotation_id) if _is_int(annotation_id) else None
        if item is None:
            raise AnnotationError("unknown_annotation", f"annotation {annotation_id!r}: no such annotation")
        if item.author != by and not by_host:
            raise AnnotationError(
                "forbidden", f"annotation {annotation_id}: only its author or the host may delete it"
            )
        del self.items[annotation_id]
        return item

    def clear(self, author: str | None, *, by: str, by_host: bool) -> tuple[int, ...]:
        """Remove every annotation of ``author`` (``None``: everyone's); the ids removed, in order.

        A member may clear their own; the host may clear anyone's, or all.
        """
        if not by_host and (author is None or author != by):
            whose = "everyone's annotations" if author is None else f"the annotations of {author!r}"
            raise AnnotationError("forbidden", f"clear: only the host may clear {whose}")
        gone = tuple(i for i, a in self.items.items() if author is None or a.author == author)
        for annotation_id in gone:
            del self.items[annotation_id]
        return gone

    def _admit(self, item: Annotation) -> None:
        if len(self.items) >= MAX_ANNOTATIONS_PER_SESSION:
            raise AnnotationError(
                "annotation_limit", f"the session has {MAX_ANNOTATIONS_PER_SESSION} annotations (the limit)"
            )
        if sum(a.author == item.author for a in self.items.values()) >= MAX_ANNOTATIONS_PER_AUTHOR:
            raise AnnotationError(
                "annotation_limit",
                f"{item.author!r} has {MAX_ANNOTATIONS_PER_AUTHOR} annotations (the limit per member)",
            )
        if isinstance(item, Stroke):
            total = self.stroke_points() + len(item.points)
            if total > MAX_STROKE_POINTS_PER_SESSION:
                raise AnnotationError(
                    "annotation_limit",
                    f"stroke: the session's strokes would have {total:,} points "
                    f"(limit {MAX_STROKE_POINTS_PER_SESSION:,}); delete some first",
                )
        self.items[item.id] = item
        self.next_id = max(self.next_id, item.id + 1)

    # --- views ---

    def list(self) -> list[Annotation]:
        """Every annotation, oldest (smallest id) first."""
        return [self.items[i] for i in sorted(self.items)]

    def stroke_points(self) -> int:
        return sum(len(a.points) for a in self.items.values() if isinstance(a, Stroke))

    # --- export / import ---

    def to_json(self) -> str:
        """The documented export (module docstring): plain JSON, readable by :meth:`from_json`."""
        return json.dumps(
            {
                "format": ANNOTATIONS_FORMAT,
                "version": ANNOTATIONS_VERSION,
                "next_id": self.next_id,
                "annotations": [annotation_dict(a) for a in self.list()],
            },
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes, objects: Container[int]) -> AnnotationStore:
        """Read an export back, checking it as strictly as new annotations (pins against ``objects``)."""
        if len(text) > MAX_ANNOTATIONS_JSON_BYTES:
            raise AnnotationError("annotation_limit", f"annotations: over {MAX_ANNOTATIONS_JSON_BYTES:,} bytes")
        try:
            raw = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise AnnotationError("bad_annotation", f"annotations: not valid JSON ({exc})") from exc
        document = _mapping(raw, "annotations", {"format", "version", "next_id", "annotations"})
        if document["format"] != ANNOTATIONS_FORMAT:
            raise AnnotationError(
                "bad_annotation", f"annotations: format is {document['format']!r}, not {ANNOTATIONS_FORMAT!r}"
            )
        if document["version"] != ANNOTATIONS_VERSION or not _is_int(document["version"]):
            raise AnnotationError(
                "bad_annotation",
                f"annotations: version {document['version']!r} is not supported "
                f"(this server reads {ANNOTATIONS_VERSION})",
            )
        entries = document["annotations"]
        if not isinstance(entries, list):
            raise AnnotationError("bad_annotation", "annotations: 'annotations' must be a list")
        store = cls()
        for number, entry in enumerate(entries, start=1):
            try:
                item = _annotation_of(entry, objects)
                if item.id in store.items:
                    raise AnnotationError("bad_annotation", f"id {item.id} is used twice")
                store._admit(item)
            except AnnotationError as exc:
                raise AnnotationError(exc.code, f"annotations: entry {number}: {exc}") from exc
        next_id = document["next_id"]
        if not _is_int(next_id) or next_id < store.next_id:
            raise AnnotationError(
                "bad_annotation", f"annotations: next_id {next_id!r} must be an integer >= {store.next_id}"
            )
        store.next_id = next_id
        return store


def make_pin(
    annotation_id: int,
    author: object,
    object_id: object,
    point: object,
    normal: object,
    text: object,
    color: object,
    created: object,
    objects: Container[int],
) -> Pin:
    """A checked pin (any problem raises :class:`AnnotationError`); the store assigns ``annotation_id``."""
    return Pin(
        id=annotation_id,
        author=_author(author),
        color=_color(color),
        created=_time(created),
        object=_object(object_id, objects),
        point=_vec3(point, "pin: point"),
        normal=None if normal is None else _unit(normal),
        text=_text(text),
    )


def make_stroke(
    annotation_id: int, author: object, points: object, width: object, color: object, created: object
) -> Stroke:
    """A checked stroke (any problem raises :class:`AnnotationError`)."""
    return Stroke(
        id=annotation_id,
        author=_author(author),
        color=_color(color),
        created=_time(created),
        points=_polyline(points),
        width=_width(width),
    )


def annotation_dict(item: Annotation) -> dict[str, Any]:
    """One annotation as plain JSON values (the export's entries; the planned ``annotation`` message)."""
    common: dict[str, Any] = {"id": item.id, "author": item.author, "color": item.color, "created": item.created}
    if isinstance(item, Pin):
        normal = None if item.normal is None else list(item.normal)
        return {"kind": "pin", **common, "object": item.object, "point": list(item.point), "normal": normal,
                "text": item.text}
    return {"kind": "stroke", **common, "points": [list(p) for p in item.points], "width": item.width}


_PIN_KEYS = {"kind", "id", "author", "color", "created", "object", "point", "normal", "text"}
_STROKE_KEYS = {"kind", "id", "author", "color", "created", "points", "width"}


def _annotation_of(entry: object, objects: Container[int]) -> Annotation:
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if kind not in ("pin", "stroke"):
        raise AnnotationError("bad_annotation", f"'kind' must be 'pin' or 'stroke', not {kind!r}")
    values = _mapping(entry, kind, _PIN_KEYS if kind == "pin" else _STROKE_KEYS)
    annotation_id = values["id"]
    if not _is_int(annotation_id) or annotation_id < 1:
        raise AnnotationError("bad_annotation", f"id must be a positive integer, not {annotation_id!r}")
    if kind == "pin":
        return make_pin(
            annotation_id, values["author"], values["object"], values["point"], values["normal"], values["text"],
            values["color"], values["created"], objects,
        )
    return make_stroke(annotation_id, values["author"], values["points"], values["width"], values["color"],
                       values["created"])


def _mapping(raw: object, what: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise AnnotationError("bad_annotation", f"{what}: expected an object, not {type(raw).__name__}")
    missing, unknown = sorted(keys - raw.keys()), sorted(raw.keys() - keys)
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(map(str, unknown))}"] if unknown else []
        )
        raise AnnotationError("bad_annotation", f"{what}: {'; '.join(parts)}")
    return raw


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


# --- checks: each returns the clean value or raises with a one-line reason ---


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _author(author: object) -> str:
    if not isinstance(author, str) or not 1 <= len(author) <= MAX_AUTHOR_CHARS:
        raise AnnotationError("bad_annotation", f"author must be a member id of 1-{MAX_AUTHOR_CHARS} characters")
    return author


def _color(color: object) -> str:
    if not isinstance(color, str) or not _HEX_COLOR.match(color):
        raise AnnotationError("bad_annotation", f"colour must look like #rrggbb, not {color!r}")
    return color.lower()


def _finite(value: object) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _time(created: object) -> float:
    number = _finite(created)
    if number is None:
        raise AnnotationError("bad_annotation", f"created must be a finite time in seconds, not {created!r}")
    return number


def _object(object_id: object, objects: Container[int]) -> int:
    if not isinstance(object_id, int) or isinstance(object_id, bool) or object_id not in objects:
        raise AnnotationError("bad_annotation", f"pin: no object {object_id!r} in the scene")
    return object_id


def _text(text: object) -> str:
    if not isinstance(text, str):
        raise AnnotationError("bad_annotation", f"pin: text must be a string, not {type(text).__name__}")
    if len(text) > MAX_ANNOTATION_TEXT_CHARS:
        raise AnnotationError(
            "bad_annotation", f"pin: text is {len(text)} characters (limit {MAX_ANNOTATION_TEXT_CHARS})"
        )
    if _CONTROL_CHARS.search(text):
        raise AnnotationError("bad_annotation", "pin: text has control characters (only tab and newline are allowed)")
    return text


def _vec3(value: object, what: str) -> Vec3:
    if not isinstance(value, list | tuple) or len(value) != 3 or not all(_is_number(v) for v in value):
        raise AnnotationError("bad_annotation", f"{what} must be three numbers [x, y, z]")
    x, y, z = (_finite(v) for v in value)
    if x is None or y is None or z is None:
        raise AnnotationError("bad_annotation", f"{what} has a coordinate that is not finite")
    return (x, y, z)


def _unit(normal: object) -> Vec3:
    x, y, z = _vec3(normal, "pin: normal")
    length = math.hypot(x, y, z)
    if not length > 0.0 or not math.isfinite(length):
        raise AnnotationError("bad_annotation", "pin: normal must have a non-zero, finite length")
    return (x / length, y / length, z / length)


def _polyline(points: object) -> tuple[Vec3, ...]:
    if not isinstance(points, list | tuple):
        raise AnnotationError("bad_annotation", "stroke: points must be a list of [x, y, z]")
    if not MIN_STROKE_POINTS <= len(points) <= MAX_STROKE_POINTS:
        raise AnnotationError(
            "bad_annotation",
            f"stroke: {len(points)} points (a stroke has {MIN_STROKE_POINTS} to {MAX_STROKE_POINTS})",
        )
    if not all(isinstance(p, list | tuple) and len(p) == 3 and all(_is_number(v) for v in p) for p in points):
        raise AnnotationError("bad_annotation", "stroke: every point must be three numbers [x, y, z]")
    array = np.asarray(points, dtype=np.float64)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise AnnotationError(
            "bad_annotation", f"stroke: point {int(np.argmin(finite))} has a coordinate that is not finite"
        )
    return tuple((x, y, z) for x, y, z in array.tolist())


def _width(width: object) -> float:
    number = _finite(width)
    if number is None or not 0.0 < number <= MAX_STROKE_WIDTH_M:
        raise AnnotationError(
            "bad_annotation", f"stroke: width must be a number in (0, {MAX_STROKE_WIDTH_M}] metres, not {width!r}"
        )
    return number
