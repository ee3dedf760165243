"""Messages between the server and a twin worker (docs/twins.md, "Runtime"); sans-I/O.

A message is a JSON header (UTF-8, at most :data:`MAX_HEADER_BYTES`, always with ``type`` and
``blobs``) followed by ``blobs`` binary blobs of at most :data:`MAX_BLOB_BYTES` each. The same
messages travel over a multiprocessing pipe (a local worker) and a WebSocket (a remote one); a
transport moves ``(header, blobs)`` and this module turns them into message objects and back.
Decoding is strict: an unknown type, a missing, extra or wrong-typed field, a non-finite number or a
wrong blob count or size raises :class:`WireError` with a one-line message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from vizserver.config import PLAYBACK_MAX_SPEED, PLAYBACK_MIN_SPEED
from vizserver.twins import wire_checks as check
from vizserver.twins.base import Action, Parameter, ParameterError, ParamValue, Schema
from vizserver.twins.wire_checks import MAX_LIST_ITEMS as MAX_LIST_ITEMS
from vizserver.twins.wire_checks import MAX_TAG as MAX_TAG
from vizserver.twins.wire_checks import MAX_TEXT_CHARS as MAX_TEXT_CHARS
from vizserver.twins.wire_checks import WireError as WireError

MAX_HEADER_BYTES = 64 << 10
"""Largest JSON header of one message: 64 KiB of UTF-8."""
MAX_BLOB_BYTES = 64 << 20
"""Largest binary blob (one field of a frame, or the bound positions): 64 MiB."""
MAX_BLOBS = 64
"""Most blobs one message carries (output fields of one frame)."""

Buffer = bytes | bytearray | memoryview
Encoded = tuple[bytes, list[Buffer]]


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """One streamed output: its unit and the colour range clients start with."""

    name: str
    unit: str
    range: tuple[float, float]


# --- worker -> server ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    schema: Schema
    time_unit: str
    time_per_second: float
    outputs: tuple[OutputInfo, ...]
    vertices: int
    time: float


@dataclass(frozen=True, slots=True)
class Frame:
    frame: int
    time: float
    step_ms: float
    realtime: float
    caused_by: tuple[int, ...]
    fields: Mapping[str, npt.NDArray[np.float32]]
    """One float32 value per bound vertex; decoded arrays are read-only views of the received blobs."""


@dataclass(frozen=True, slots=True)
class State:
    state: Literal["running", "paused"]
    speed: float
    time: float
    message: str | None = None


@dataclass(frozen=True, slots=True)
class WasReset:
    """Type ``reset`` from the worker: a user's reset (``tags`` = its tag) or a blow-up (``tags`` empty)."""

    message: str
    tags: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    tag: int
    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The twin could not be built or raised; the worker exits (non-zero) right after sending this."""

    message: str


# --- server -> worker ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bind:
    """The first message: bind the twin's outputs to these ``(n, 3)`` float32 positions."""

    positions: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SetParams:
    """Type ``params``."""

    values: Mapping[str, ParamValue]
    tag: int


@dataclass(frozen=True, slots=True)
class Act:
    """Type ``action``."""

    action: str
    point: tuple[float, float, float] | None
    tag: int


@dataclass(frozen=True, slots=True)
class Control:
    playing: bool | None = None
    speed: float | None = None


@dataclass(frozen=True, slots=True)
class Reset:
    """Type ``reset`` from the server: ``params`` None keeps the current parameters, else defaults + these."""

    params: Mapping[str, ParamValue] | None
    tag: int


@dataclass(frozen=True, slots=True)
class Stop:
    pass


WorkerMessage = Ready | Frame | State | WasReset | Refused | Failed
ServerMessage = Bind | SetParams | Act | Control | Reset | Stop


# --- schema <-> JSON -----------------------------------------------------------------------------


def schema_to_json(schema: Schema) -> dict[str, Any]:
    """``{parameters, actions, outputs, units, ranges}``, the inverse of :func:`schema_from_json`."""
    return {
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "default": p.default,
                "unit": p.unit,
                "minimum": p.minimum,
                "maximum": p.maximum,
                "choices": list(p.choices),
                "description": p.description,
            }
            for p in schema.parameters
        ],
        "actions": [
            {"name": a.name, "description": a.description, "needs_point": a.needs_point} for a in schema.actions
        ],
        "outputs": list(schema.outputs),
        "units": dict(schema.units),
        "ranges": {name: [float(lo), float(hi)] for name, (lo, hi) in schema.ranges.items()},
    }


def schema_from_json(obj: object, where: str = "schema") -> Schema:
    """A :class:`Schema` from :func:`schema_to_json`'s output, checked field by field."""
    f = check.fields(
        check.as_object(obj, where),
        where,
        {
            "parameters": check.list_of(_parameter),
            "actions": check.list_of(_action),
            "outputs": check.list_of(check.text),
        },
        {"units": check.map_of(check.text), "ranges": check.map_of(check.value_range)},
    )
    names = [p.name for p in f["parameters"]]
    if len(set(names)) != len(names):
        raise WireError(f"{where}.parameters: duplicate names")
    return Schema(
        parameters=tuple(f["parameters"]),
        actions=tuple(f["actions"]),
        outputs=tuple(f["outputs"]),
        units=f.get("units", {}),
        ranges=f.get("ranges", {}),
    )


# --- encoding ------------------------------------------------------------------------------------


def encode(message: WorkerMessage | ServerMessage) -> Encoded:
    """The header bytes and the blobs of ``message``; :class:`WireError` if it cannot be sent as is."""
    blobs: list[Buffer] = []
    header: dict[str, Any]
    match message:
        case Ready():
            header = {
                "type": "ready",
                "schema": schema_to_json(message.schema),
                "time_unit": message.time_unit,
                "time_per_second": message.time_per_second,
                "outputs": [{"name": o.name, "unit": o.unit, "range": list(o.range)} for o in message.outputs],
                "vertices": message.vertices,
                "time": message.time,
            }
        case Frame():
            blobs = [_float32_blob(v) for v in message.fields.values()]
            header = {
                "type": "frame",
                "frame": message.frame,
                "time": message.time,
                "step_ms": message.step_ms,
                "realtime": message.realtime,
                "caused_by": list(message.caused_by),
                "fields": list(message.fields),
            }
        case State():
            header = {"type": "state", "state": message.state, "speed": message.speed, "time": message.time}
            if message.message is not None:
                header["message"] = message.message
        case WasReset():
            header = {"type": "reset", "message": message.message, "tags": list(message.tags)}
        case Refused():
            header = {"type": "refused", "tag": message.tag, "message": message.message}
        case Failed():
            header = {"type": "failed", "message": message.message}
        case Bind():
            positions = np.asarray(message.positions)
            if positions.ndim != 2 or positions.shape[1] != 3:
                raise WireError(f"bind: positions must be (n, 3), got shape {positions.shape}")
            blobs = [_float32_blob(positions)]
            header = {"type": "bind", "vertices": len(positions)}
        case SetParams():
            header = {"type": "params", "values": dict(message.values), "tag": message.tag}
        case Act():
            point = None if message.point is None else [float(x) for x in message.point]
            header = {"type": "action", "action": message.action, "point": point, "tag": message.tag}
        case Control():
            header = {"type": "control"}
            if message.playing is not None:
                header["playing"] = message.playing
            if message.speed is not None:
                header["speed"] = message.speed
        case Reset():
            params = None if message.params is None else dict(message.params)
            header = {"type": "reset", "params": params, "tag": message.tag}
        case Stop():
            header = {"type": "stop"}
    header["blobs"] = len(blobs)
    try:
        data = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise WireError(f"{header['type']}: cannot encode: {exc}") from None
    if len(data) > MAX_HEADER_BYTES:
        raise WireError(f"{header['type']}: header of {len(data):,} bytes is over the {MAX_HEADER_BYTES:,} byte limit")
    for blob in blobs:
        _check_blob_size(header["type"], memoryview(blob).nbytes)
    return data, blobs


def _float32_blob(values: npt.ArrayLike) -> memoryview:
    raw: Any = np.ascontiguousarray(values, dtype="<f4").reshape(-1).view(np.uint8)
    return memoryview(raw)


# --- decoding ------------------------------------------------------------------------------------


def read_header(data: bytes) -> dict[str, Any]:
    """The header as a JSON object with a string ``type`` and a valid ``blobs`` count."""
    if len(data) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(data):,} bytes is over the {MAX_HEADER_BYTES:,} byte limit")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("header is not UTF-8 text") from None
    try:
        obj = json.loads(text, parse_constant=check.non_finite, parse_float=check.finite_float)
    except json.JSONDecodeError as exc:
        raise WireError(f"header is not JSON: {exc.msg} at character {exc.pos}") from None
    except (ValueError, RecursionError) as exc:
        raise WireError(f"header is not usable JSON: {check.first_line(exc)}") from None
    if not isinstance(obj, dict):
        raise WireError(f"header is a JSON {type(obj).__name__}, not an object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise WireError("header has no string 'type'")
    blobs = obj.get("blobs")
    if isinstance(blobs, bool) or not isinstance(blobs, int) or not 0 <= blobs <= MAX_BLOBS:
        raise WireError(f"{kind[:40]}: 'blobs' must be an integer 0..{MAX_BLOBS}, got {check.short(blobs)}")
    return obj


def blob_count(data: bytes) -> int:
    """How many blobs follow this header (transports read that many)."""
    count: int = read_header(data)["blobs"]
    return count


def decode_from_worker(data: bytes, blobs: Sequence[Buffer], vertices: int | None = None) -> WorkerMessage:
    """A message the server received; ``vertices`` (from ``ready``) checks frame blob sizes."""
    header = read_header(data)
    kind = header["type"]
    decoder = _FROM_WORKER.get(kind)
    if decoder is None:
        raise WireError(
            f"unknown message type {check.short(kind)} from a twin worker; known: {', '.join(_FROM_WORKER)}"
        )
    return decoder(check.body(header), _checked_blobs(header, blobs), vertices)


def decode_from_server(data: bytes, blobs: Sequence[Buffer]) -> ServerMessage:
    """A message the worker received."""
    header = read_header(data)
    kind = header["type"]
    decoder = _FROM_SERVER.get(kind)
    if decoder is None:
        raise WireError(f"unknown message type {check.short(kind)} from the server; known: {', '.join(_FROM_SERVER)}")
    return decoder(check.body(header), _checked_blobs(header, blobs))


def _checked_blobs(header: dict[str, Any], blobs: Sequence[Buffer]) -> list[memoryview]:
    if len(blobs) != header["blobs"]:
        raise WireError(f"{header['type']}: header announces {header['blobs']} blob(s), {len(blobs)} arrived")
    views = [memoryview(b).cast("B") for b in blobs]
    for view in views:
        _check_blob_size(header["type"], view.nbytes)
    return views


def _check_blob_size(kind: str, nbytes: int) -> None:
    if nbytes > MAX_BLOB_BYTES:
        raise WireError(f"{kind}: a blob of {nbytes:,} bytes is over the {MAX_BLOB_BYTES:,} byte limit")


def _ready(h: dict[str, Any], blobs: list[memoryview], vertices: int | None) -> Ready:
    f = check.fields(
        h,
        "ready",
        {
            "schema": schema_from_json,
            "time_unit": check.text,
            "time_per_second": check.number(positive=True),
            "outputs": check.list_of(_output),
            "vertices": check.count,
            "time": check.number(),
        },
    )
    check.no_blobs("ready", blobs)
    outputs = tuple(f["outputs"])
    if [o.name for o in outputs] != list(f["schema"].outputs):
        raise WireError("ready: outputs must describe the schema's outputs, in order")
    return Ready(f["schema"], f["time_unit"], f["time_per_second"], outputs, f["vertices"], f["time"])


def _frame(h: dict[str, Any], blobs: list[memoryview], vertices: int | None) -> Frame:
    f = check.fields(
        h,
        "frame",
        {
            "frame": check.count,
            "time": check.number(),
            "step_ms": check.number(minimum=0.0),
            "realtime": check.number(minimum=0.0),
            "caused_by": check.list_of(check.tag),
            "fields": check.list_of(check.text),
        },
    )
    names: list[str] = f["fields"]
    if len(set(names)) != len(names):
        raise WireError("frame: duplicate field names")
    if len(names) != len(blobs):
        raise WireError(f"frame: {len(names)} field name(s) but {len(blobs)} blob(s)")
    sizes = {b.nbytes for b in blobs}
    expected = None if vertices is None else 4 * vertices
    if len(sizes) > 1 or any(s % 4 or s == 0 or (expected is not None and s != expected) for s in sizes):
        want = f"{expected:,} bytes each" if expected is not None else "equal non-empty multiples of 4 bytes"
        raise WireError(f"frame: field blobs of {sorted(sizes)} bytes; expected {want}")
    fields = {name: np.frombuffer(blob, dtype="<f4") for name, blob in zip(names, blobs, strict=True)}
    return Frame(f["frame"], f["time"], f["step_ms"], f["realtime"], tuple(f["caused_by"]), fields)


def _state(h: dict[str, Any], blobs: list[memoryview], vertices: int | None) -> State:
    f = check.fields(
        h,
        "state",
        {"state": check.one_of("running", "paused"), "speed": _speed, "time": check.number()},
        {"message": check.text},
    )
    check.no_blobs("state", blobs)
    return State(f["state"], f["speed"], f["time"], f.get("message"))


def _was_reset(h: dict[str, Any], blobs: list[memoryview], vertices: int | None) -> WasReset:
    f = check.fields(h, "reset", {"message": check.text, "tags": check.list_of(check.tag)})
    check.no_blobs("reset", blobs)
    return WasReset(f["message"], tuple(f["tags"]))


def _refused(h: dict[str, Any], blobs: list[memoryview], vertices: int | None) -> Refused:
    f = check.fields(h, "refused", {"tag": check.tag, "message": check.text})
    check.no_blobs("refused", blobs)
    return Refused(f["tag"], f["message"])


def _failed(h: dict[str, Any], blobs: list[memoryview], vertices: int | None) -> Failed:
    f = check.fields(h, "failed", {"message": check.text})
    check.no_blobs("failed", blobs)
    return Failed(f["message"])


def _bind(h: dict[str, Any], blobs: list[memoryview]) -> Bind:
    f = check.fields(h, "bind", {"vertices": check.count})
    n = f["vertices"]
    if len(blobs) != 1 or blobs[0].nbytes != 12 * n:
        got = ", ".join(f"{b.nbytes:,}" for b in blobs) or "none"
        raise WireError(f"bind: expected one blob of {12 * n:,} bytes ({n:,} float32 xyz), got {got}")
    positions = np.frombuffer(blobs[0], dtype="<f4").reshape(n, 3)
    if not np.isfinite(positions).all():
        raise WireError("bind: positions contain NaN or infinity")
    return Bind(positions)


def _set_params(h: dict[str, Any], blobs: list[memoryview]) -> SetParams:
    f = check.fields(h, "params", {"values": check.map_of(_param_value), "tag": check.tag})
    check.no_blobs("params", blobs)
    return SetParams(f["values"], f["tag"])


def _act(h: dict[str, Any], blobs: list[memoryview]) -> Act:
    f = check.fields(h, "action", {"action": check.text, "point": check.optional(check.point), "tag": check.tag})
    check.no_blobs("action", blobs)
    return Act(f["action"], f["point"], f["tag"])


def _control(h: dict[str, Any], blobs: list[memoryview]) -> Control:
    f = check.fields(h, "control", {}, {"playing": check.boolean, "speed": _speed})
    check.no_blobs("control", blobs)
    return Control(f.get("playing"), f.get("speed"))


def _reset(h: dict[str, Any], blobs: list[memoryview]) -> Reset:
    f = check.fields(h, "reset", {"params": check.optional(check.map_of(_param_value)), "tag": check.tag})
    check.no_blobs("reset", blobs)
    return Reset(f["params"], f["tag"])


def _stop(h: dict[str, Any], blobs: list[memoryview]) -> Stop:
    check.fields(h, "stop", {})
    check.no_blobs("stop", blobs)
    return Stop()


_FROM_WORKER: dict[str, Callable[[dict[str, Any], list[memoryview], int | None], WorkerMessage]] = {
    "ready": _ready,
    "frame": _frame,
    "state": _state,
    "reset": _was_reset,
    "refused": _refused,
    "failed": _failed,
}
_FROM_SERVER: dict[str, Callable[[dict[str, Any], list[memoryview]], ServerMessage]] = {
    "bind": _bind,
    "params": _set_params,
    "action": _act,
    "control": _control,
    "reset": _reset,
    "stop": _stop,
}


# --- twin-specific checkers (the generic ones are in wire_checks.py) -----------------------------


def _speed(value: object, where: str) -> float:
    speed: float = check.number()(value, where)
    if not PLAYBACK_MIN_SPEED <= speed <= PLAYBACK_MAX_SPEED:
        raise WireError(f"{where}: {speed:g} is outside [{PLAYBACK_MIN_SPEED:g}, {PLAYBACK_MAX_SPEED:g}]")
    return speed


def _param_value(value: object, where: str) -> ParamValue:
    if isinstance(value, bool | str):
        return check.text(value, where) if isinstance(value, str) else value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    raise WireError(f"{where}: expected a number, true/false or a string, got {check.short(value)}")


def _parameter(value: object, where: str) -> Parameter:
    f = check.fields(
        check.as_object(value, where),
        where,
        {
            "name": check.text,
            "type": check.one_of("float", "int", "bool", "choice"),
            "default": _param_value,
            "unit": check.text,
            "minimum": check.optional(check.number()),
            "maximum": check.optional(check.number()),
            "choices": check.list_of(check.text),
            "description": check.text,
        },
    )
    parameter = Parameter(
        f["name"], f["type"], f["default"], f["unit"], f["minimum"], f["maximum"], tuple(f["choices"]), f["description"]
    )
    try:
        parameter.validate(parameter.default)
    except ParameterError as exc:
        raise WireError(f"{where}: default is not valid: {exc}") from None
    return parameter


def _action(value: object, where: str) -> Action:
    f = check.fields(
        check.as_object(value, where),
        where,
        {"name": check.text, "description": check.text, "needs_point": check.boolean},
    )
    return Action(f["name"], f["description"], f["needs_point"])


def _output(value: object, where: str) -> OutputInfo:
    f = check.fields(
        check.as_object(value, where), where, {"name": check.text, "unit": check.text, "range": check.value_range}
    )
    return OutputInfo(f["name"], f["unit"], f["range"])
