"""The messages server processes send each other through Redis pub/sub (docs/architecture.md "Scale-out").

Pure: bytes in, values out. Every message is ``VZB1``, a kind byte, the length of a JSON head (u32),
the head (a JSON object), then the binary blobs the head's ``blobs`` list gives the lengths of. Control
texts and field frames travel as blobs, so a frame's bytes are never copied into JSON and an edge hands
the very bytes it received to each recipient's outbox. A message that does not parse raises
:class:`BusWireError` naming what is wrong; a process logs it and drops the message.

Kinds: edge -> owner on ``vz:in:{sid}``: :data:`CONNECT`, :data:`MESSAGE`, :data:`DISCONNECT`, :data:`CALL`;
owner -> edge on ``vz:edge:{server}``: :data:`REPLY` (to a connect or a call) and :data:`BATCH` (texts and
frame pairs with their recipients, keyframe and close requests; a recipient is the id the edge gave that
connection); every process on ``vz:presence:{sid}``:
:data:`ROSTER` (who its clients are) and :data:`POSES` (their latest poses, one message per tick).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from vizserver.errors import InputError
from vizserver.protocol.field_encoder import FramePair

BUS_MAGIC = b"VZB1"
BUS_HEADER = struct.Struct("<4sBI")
"""magic, kind, head length."""

MAX_HEAD_BYTES = 1 << 20
MAX_BLOBS = 4096
MAX_BUS_MESSAGE_BYTES = 256 << 20
"""Largest bus message either side accepts (several frame pairs of the largest field frames)."""


class BusWireError(InputError):
    """A bus message that does not parse; the message says which part."""


class Kind(IntEnum):
    CONNECT = 1
    MESSAGE = 2
    DISCONNECT = 3
    CALL = 4
    REPLY = 5
    BATCH = 6
    ROSTER = 7
    POSES = 8


CONNECT, MESSAGE, DISCONNECT, CALL = Kind.CONNECT, Kind.MESSAGE, Kind.DISCONNECT, Kind.CALL
REPLY, BATCH, ROSTER, POSES = Kind.REPLY, Kind.BATCH, Kind.ROSTER, Kind.POSES


@dataclass(frozen=True, slots=True)
class BusMessage:
    kind: Kind
    head: dict[str, Any]
    blobs: tuple[bytes, ...] = ()


def encode_message(kind: Kind, head: dict[str, Any], blobs: tuple[bytes, ...] | list[bytes] = ()) -> bytes:
    """One bus message; ``head`` must be JSON-able (its ``blobs`` key is set here)."""
    sizes = [len(b) for b in blobs]
    text = json.dumps({**head, "blobs": sizes}, separators=(",", ":")).encode()
    return b"".join((BUS_HEADER.pack(BUS_MAGIC, int(kind), len(text)), text, *blobs))


def decode_message(data: bytes) -> BusMessage:
    if len(data) > MAX_BUS_MESSAGE_BYTES:
        raise BusWireError(f"bus message of {len(data)} bytes (at most {MAX_BUS_MESSAGE_BYTES})")
    if len(data) < BUS_HEADER.size:
        raise BusWireError(f"bus message of {len(data)} bytes (header is {BUS_HEADER.size})")
    magic, kind, head_size = BUS_HEADER.unpack_from(data)
    if magic != BUS_MAGIC:
        raise BusWireError(f"bad magic {bytes(magic)!r} (expected {BUS_MAGIC!r})")
    try:
        known = Kind(kind)
    except ValueError:
        raise BusWireError(f"unknown bus message kind {kind}") from None
    if head_size > MAX_HEAD_BYTES or BUS_HEADER.size + head_size > len(data):
        raise BusWireError(f"head of {head_size} bytes does not fit a message of {len(data)} bytes")
    at = BUS_HEADER.size + head_size
    try:
        head = json.loads(data[BUS_HEADER.size : at])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BusWireError(f"head is not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise BusWireError("head is not a JSON object")
    sizes = head.pop("blobs", None)
    if not isinstance(sizes, list) or len(sizes) > MAX_BLOBS or not all(_is_count(s) for s in sizes):
        raise BusWireError(f"head's blobs is not a list of at most {MAX_BLOBS} sizes")
    if at + sum(sizes) != len(data):
        raise BusWireError(f"blobs of {sum(sizes)} bytes after byte {at}; the message has {len(data)}")
    blobs = []
    for size in sizes:
        blobs.append(data[at : at + size])
        at += size
    return BusMessage(known, head, tuple(blobs))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- reading heads ---


def text_of(head: dict[str, Any], key: str, limit: int = 1 << 16) -> str:
    value = head.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise BusWireError(f"{key}: expected a string of at most {limit} characters, got {type(value).__name__}")
    return value


def int_of(head: dict[str, Any], key: str) -> int:
    value = head.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BusWireError(f"{key}: expected an integer, got {type(value).__name__}")
    return value


def ids_of(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BusWireError(f"{what}: expected a list of ids")
    return tuple(value)


def key_of(value: object, what: str) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise BusWireError(f"{what}: expected [object, field]")
    return (value[0], value[1])


# --- owner -> edge: one batch per edge per loop turn ---


@dataclass(slots=True)
class EdgeBatch:
    """What an owner sends one edge at once; the edge applies it in this order: texts, frames, keyframe
    requests, closes (a close comes after the texts queued before it)."""

    session_id: str
    texts: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    frames: list[tuple[FramePair, tuple[str, ...]]] = field(default_factory=list)
    keyframes: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    closes: list[tuple[str, int, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.texts or self.frames or self.keyframes or self.closes)


def encode_batch(batch: EdgeBatch) -> bytes:
    blobs: list[bytes] = [text.encode() for text, _ in batch.texts]
    frames = []
    for pair, to in batch.frames:
        blobs.append(pair.keyframe)
        if pair.delta is not None:
            blobs.append(pair.delta)
        frames.append({"key": list(pair.key), "seq": pair.sequence, "base": pair.base,
                       "delta": pair.delta is not None, "to": list(to)})
    head = {
        "sid": batch.session_id,
        "texts": [list(to) for _, to in batch.texts],
        "frames": frames,
        "keyframes": [[cid, list(key)] for cid, key in batch.keyframes],
        "closes": [list(c) for c in batch.closes],
    }
    return encode_message(BATCH, head, blobs)


def decode_batch(message: BusMessage) -> EdgeBatch:
    head, blobs = message.head, list(message.blobs)
    texts_to, frames, keyframes, closes = (head.get(k) for k in ("texts", "frames", "keyframes", "closes"))
    if not all(isinstance(v, list) for v in (texts_to, frames, keyframes, closes)):
        raise BusWireError("batch: texts, frames, keyframes and closes must be lists")
    assert isinstance(texts_to, list) and isinstance(frames, list)
    assert isinstance(keyframes, list) and isinstance(closes, list)
    batch = EdgeBatch(text_of(head, "sid"))
    at = 0

    def blob() -> bytes:
        nonlocal at
        if at >= len(blobs):
            raise BusWireError(f"batch: {len(blobs)} blobs, more are named")
        at += 1
        return blobs[at - 1]

    for to in texts_to:
        try:
            text = blob().decode()
        except UnicodeDecodeError:
            raise BusWireError("batch: a control text is not UTF-8") from None
        batch.texts.append((text, ids_of(to, "batch text recipients")))
    for frame in frames:
        if not isinstance(frame, dict):
            raise BusWireError("batch: a frame entry is not an object")
        base = frame.get("base")
        if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
            raise BusWireError("batch: a frame's base is not an integer")
        keyframe = blob()
        delta = blob() if frame.get("delta") is True else None
        pair = FramePair(key_of(frame.get("key"), "frame key"), int_of(frame, "seq"), keyframe, delta,
                         base if delta is not None else None)
        batch.frames.append((pair, ids_of(frame.get("to"), "frame recipients")))
    for entry in keyframes:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
            raise BusWireError("batch: a keyframe request is not [client, [object, field]]")
        batch.keyframes.append((entry[0], key_of(entry[1], "keyframe key")))
    for entry in closes:
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or not isinstance(entry[1], int) or not isinstance(entry[2], str)):
            raise BusWireError("batch: a close request is not [client, code, reason]")
        batch.closes.append((entry[0], entry[1], entry[2]))
    if at != len(blobs):
        raise BusWireError(f"batch: {len(blobs)} blobs, {at} named")
    return batch


# --- presence: one message of poses per process per tick ---


def encode_poses(server_id: str, session_id: str, entries: list[tuple[str, bytes]]) -> bytes:
    """The latest pose bodies (protocol/presence.py, already checked) of this process's clients."""
    head = {"server": server_id, "sid": session_id, "clients": [cid for cid, _ in entries]}
    return encode_message(POSES, head, [body for _, body in entries])


def decode_poses(message: BusMessage) -> list[tuple[str, bytes]]:
    clients = ids_of(message.head.get("clients"), "poses clients")
    if len(clients) != len(message.blobs):
        raise BusWireError(f"poses: {len(clients)} clients, {len(message.blobs)} bodies")
    return list(zip(clients, message.blobs, strict=True))
