"""Presence frames of protocol v1 (docs/protocol.md, "Presence"): where each person is, in a few bytes.

Pure: bytes in, values out. A client sends its head (desktop: camera) pose, optionally its hands and
a pointer, as one binary WebSocket message (``VZP1``, kind 1); the server relays the others' latest
ones in batches (kind 2). Positions are float16 in the scene content's coordinates; orientations are
unit quaternions packed "smallest three" into 32 bits. Everything a client sends is checked here
(length against the flags, finite numbers, unit quaternions, known flag bits) and refused with a
:class:`~vizserver.protocol.messages.ProtocolError` (code ``bad_frame``) naming the problem.

An entry's body (flags, size, poses, pointer) is the same bytes in both kinds, so the server relays
what it checked without decoding it again.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from vizserver.protocol.messages import MAX_NAME_CHARS, ErrorCode, ProtocolError

PRESENCE_MAGIC = b"VZP1"
KIND_POSE = 1
"""Client -> server: this client's presence."""
KIND_BATCH = 2
"""Server -> client: other clients' latest presences, one entry each (slot byte, then the body)."""

POSE_HEADER = struct.Struct("<4sB")
BATCH_HEADER = struct.Struct("<4sBB")
"""magic, kind (, entry count)."""

XR = 0x01
"""The head is a headset's (else a desktop camera)."""
LEFT = 0x02
RIGHT = 0x04
POINTER = 0x08
POINTER_HIT = 0x10
"""The pointer ends on a surface (else in the air)."""
POINTER_FROM_LEFT = 0x20
POINTER_FROM_RIGHT = 0x40
"""Where the pointer starts: the left or right hand; neither: the head."""
KNOWN_FLAGS = 0x7F

POSE_BYTES = 10
"""float16 x, y, z and a 32-bit packed quaternion."""
POINT_BYTES = 6
FIXED_BYTES = 2 + POSE_BYTES
"""flags, size code, head pose."""
MAX_BODY_BYTES = FIXED_BYTES + 2 * POSE_BYTES + POINT_BYTES
MAX_BATCH_ENTRIES = 255
PRESENCE_SLOTS = 256
"""A slot is one byte."""

FLOAT16_MAX = 65504.0
SIZE_CODE_ZERO = 128
SIZE_CODE_STEPS = 8.0
"""``size`` (the head's size in content units) travels as ``round(8 * log2(size)) + 128`` in one byte:
2^-16 to 2^15.9 in steps of 9 %."""

QUAT_BITS = 10
QUAT_MASK = (1 << QUAT_BITS) - 1
QUAT_HALF = 511
"""A component ``c`` travels as ``round(c / (1/sqrt(2)) * 511) + 511`` (0 exact; 1023 is not produced)."""
QUAT_RANGE = math.sqrt(0.5)
"""The three smaller components of a unit quaternion lie in [-1/sqrt(2), 1/sqrt(2)]."""
QUAT_NORM_SLACK = 0.01
"""A packed quaternion whose three components' squares sum above 1 + this is refused (not a rotation)."""

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]
PointerFrom = Literal["head", "left", "right"]


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FRAME, message)


@dataclass(frozen=True, slots=True)
class Pose:
    position: Vec3
    orientation: Quat
    """x, y, z, w; normalised when packed."""


@dataclass(frozen=True, slots=True)
class Presence:
    """One client's presence, in the scene content's coordinates (the frame the scene's objects sit in)."""

    head: Pose
    size: float = 1.0
    """The head's size in content units (a headset: 0.2 m over the content's scale), for drawing the avatar."""
    xr: bool = False
    left: Pose | None = None
    right: Pose | None = None
    pointer: Vec3 | None = None
    """Where the pointer ends."""
    pointer_hit: bool = False
    pointer_from: PointerFrom = "head"

    @property
    def flags(self) -> int:
        flags = (XR if self.xr else 0) | (LEFT if self.left else 0) | (RIGHT if self.right else 0)
        if self.pointer is not None:
            flags |= POINTER | (POINTER_HIT if self.pointer_hit else 0)
            flags |= {"head": 0, "left": POINTER_FROM_LEFT, "right": POINTER_FROM_RIGHT}[self.pointer_from]
        return flags


def body_bytes(flags: int) -> int:
    """Length of an entry body with these flags."""
    return (
        FIXED_BYTES
        + (POSE_BYTES if flags & LEFT else 0)
        + (POSE_BYTES if flags & RIGHT else 0)
        + (POINT_BYTES if flags & POINTER else 0)
    )


# --- encoding ---


def encode_presence(presence: Presence) -> bytes:
    """The client's binary message (kind 1). Raises ProtocolError for values a float16 cannot carry."""
    return POSE_HEADER.pack(PRESENCE_MAGIC, KIND_POSE) + encode_body(presence)


def encode_body(presence: Presence) -> bytes:
    flags = presence.flags
    check_flags(flags)
    parts = [bytes((flags, size_code(presence.size))), _pose(presence.head)]
    for hand in (presence.left, presence.right):
        if hand is not None:
            parts.append(_pose(hand))
    if presence.pointer is not None:
        parts.append(_point(presence.pointer))
    return b"".join(parts)


def encode_batch(entries: Iterable[bytes]) -> bytes:
    """A server batch (kind 2) from entries already laid out as slot byte + body."""
    listed = list(entries)
    if len(listed) > MAX_BATCH_ENTRIES:
        raise _bad(f"batch of {len(listed)} entries (at most {MAX_BATCH_ENTRIES})")
    return BATCH_HEADER.pack(PRESENCE_MAGIC, KIND_BATCH, len(listed)) + b"".join(listed)


def size_code(size: float) -> int:
    if not (math.isfinite(size) and size > 0):
        raise _bad(f"avatar size {size} is not a positive finite number")
    return min(max(round(math.log2(size) * SIZE_CODE_STEPS) + SIZE_CODE_ZERO, 0), 255)


def size_of(code: int) -> float:
    return float(2.0 ** ((code - SIZE_CODE_ZERO) / SIZE_CODE_STEPS))


def pack_quaternion(q: Quat) -> int:
    """Smallest three: 2 bits for the index of the largest component (dropped, made positive), then the
    other three in order, 10 bits each over [-1/sqrt(2), 1/sqrt(2)] (``QUAT_HALF``)."""
    norm = math.sqrt(sum(c * c for c in q))
    if not (math.isfinite(norm) and norm > 0):
        raise _bad(f"orientation {list(q)} is not a rotation")
    unit = [c / norm for c in q]
    largest = max(range(4), key=lambda i: abs(unit[i]))
    sign = -1.0 if unit[largest] < 0 else 1.0
    packed = largest
    for i in range(4):
        if i != largest:
            code = round(sign * unit[i] / QUAT_RANGE * QUAT_HALF) + QUAT_HALF
            packed = (packed << QUAT_BITS) | min(max(code, 0), 2 * QUAT_HALF)
    return packed


def unpack_quaternion(packed: int) -> Quat:
    largest = packed >> (3 * QUAT_BITS)
    rest = [(((packed >> (QUAT_BITS * k)) & QUAT_MASK) - QUAT_HALF) / QUAT_HALF * QUAT_RANGE for k in (2, 1, 0)]
    squares = sum(c * c for c in rest)
    if squares > 1.0 + QUAT_NORM_SLACK:
        raise _bad(f"orientation is not a unit quaternion (its three smaller components square to {squares:.3f})")
    rest.insert(largest, math.sqrt(max(0.0, 1.0 - squares)))
    return (rest[0], rest[1], rest[2], rest[3])


def _pose(pose: Pose) -> bytes:
    return _point(pose.position) + struct.pack("<I", pack_quaternion(pose.orientation))


def _point(p: Vec3) -> bytes:
    if not all(math.isfinite(c) and abs(c) <= FLOAT16_MAX for c in p):
        raise _bad(f"position {list(p)} is outside the float16 range (|x| <= {FLOAT16_MAX:g}, finite)")
    return struct.pack("<3e", *p)


# --- decoding ---


def check_flags(flags: int) -> None:
    if flags & ~KNOWN_FLAGS:
        raise _bad(f"unknown presence flags 0x{flags & ~KNOWN_FLAGS:02x}")
    origin = flags & (POINTER_FROM_LEFT | POINTER_FROM_RIGHT)
    if not flags & POINTER and flags & (POINTER_HIT | origin):
        raise _bad("pointer flags without a pointer")
    if origin == POINTER_FROM_LEFT | POINTER_FROM_RIGHT:
        raise _bad("a pointer cannot start from both hands")
    if (origin == POINTER_FROM_LEFT and not flags & LEFT) or (origin == POINTER_FROM_RIGHT and not flags & RIGHT):
        raise _bad("the pointer starts from a hand the presence does not carry")


def check_pose_message(data: bytes | memoryview[int]) -> bytes:
    """The body of a client's presence message (kind 1), after checking every byte of it."""
    if len(data) < POSE_HEADER.size + FIXED_BYTES:
        raise _bad(f"presence message of {len(data)} bytes (at least {POSE_HEADER.size + FIXED_BYTES})")
    magic, kind = POSE_HEADER.unpack_from(data)
    if magic != PRESENCE_MAGIC:
        raise _bad(f"bad magic {bytes(magic)!r} (expected {PRESENCE_MAGIC!r})")
    if kind != KIND_POSE:
        raise _bad(f"presence kind {kind} (a client sends kind {KIND_POSE})")
    body = bytes(data[POSE_HEADER.size :])
    decode_body(body)
    return body


def decode_presence(data: bytes | memoryview[int]) -> Presence:
    """A client's presence message (kind 1), checked."""
    return decode_body(check_pose_message(data))


def decode_body(body: bytes) -> Presence:
    """One entry body, checked: its length must be exactly what its flags say."""
    if len(body) < FIXED_BYTES:
        raise _bad(f"presence of {len(body)} bytes (at least {FIXED_BYTES})")
    flags, code = body[0], body[1]
    check_flags(flags)
    expected = body_bytes(flags)
    if len(body) != expected:
        raise _bad(f"presence of {len(body)} bytes; its flags 0x{flags:02x} say {expected}")
    head, at = _read_pose(body, 2, "head")
    left = right = None
    if flags & LEFT:
        left, at = _read_pose(body, at, "left hand")
    if flags & RIGHT:
        right, at = _read_pose(body, at, "right hand")
    pointer = _read_point(body, at, "pointer") if flags & POINTER else None
    origin: PointerFrom = "left" if flags & POINTER_FROM_LEFT else "right" if flags & POINTER_FROM_RIGHT else "head"
    return Presence(head, size_of(code), bool(flags & XR), left, right, pointer, bool(flags & POINTER_HIT), origin)


def split_batch(data: bytes | memoryview[int]) -> list[tuple[int, bytes]]:
    """A server batch (kind 2) as (slot, body) pairs, lengths checked but bodies not decoded."""
    if len(data) < BATCH_HEADER.size:
        raise _bad(f"presence batch of {len(data)} bytes (header is {BATCH_HEADER.size})")
    magic, kind, count = BATCH_HEADER.unpack_from(data)
    if magic != PRESENCE_MAGIC or kind != KIND_BATCH:
        raise _bad(f"not a presence batch: magic {bytes(magic)!r}, kind {kind}")
    raw = bytes(data)
    entries: list[tuple[int, bytes]] = []
    at = BATCH_HEADER.size
    for _ in range(count):
        if at + 1 + FIXED_BYTES > len(raw):
            raise _bad(f"presence batch truncated at byte {at} ({count} entries announced)")
        size = body_bytes(raw[at + 1])
        entries.append((raw[at], raw[at + 1 : at + 1 + size]))
        at += 1 + size
    if at != len(raw):
        raise _bad(f"presence batch of {len(raw)} bytes; its {count} entries end at byte {at}")
    return entries


def decode_batch(data: bytes | memoryview[int]) -> list[tuple[int, Presence]]:
    return [(slot, decode_body(body)) for slot, body in split_batch(data)]


def is_presence(data: bytes | memoryview[int]) -> bool:
    """Whether a binary message is a presence message (else it is something a client may not send)."""
    return bytes(data[:4]) == PRESENCE_MAGIC


def _read_pose(body: bytes, at: int, what: str) -> tuple[Pose, int]:
    position = _read_point(body, at, what)
    (packed,) = struct.unpack_from("<I", body, at + POINT_BYTES)
    try:
        orientation = unpack_quaternion(packed)
    except ProtocolError as exc:
        raise _bad(f"{what}: {exc}") from None
    return Pose(position, orientation), at + POSE_BYTES


def _read_point(body: bytes, at: int, what: str) -> Vec3:
    x, y, z = struct.unpack_from("<3e", body, at)
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
        raise _bad(f"{what}: position ({x}, {y}, {z}) is not finite")
    return (x, y, z)


# --- who the slots are (JSON control message) ---


class PeerInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slot: Annotated[int, Field(ge=0, le=255)]
    client_id: Annotated[str, Field(max_length=MAX_NAME_CHARS)]
    member: Annotated[str, Field(max_length=MAX_NAME_CHARS)] | None = None
    """The member id of ``members`` (names and colours are there), when the session has members."""
    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = ""
    role: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = ""


class PresencePeers(BaseModel):
    """Which client each slot of presence batches is: the whole list to a client that connects, the changes
    (``peers`` joined, ``left`` slots gone) to the others. Sent as a control message, so it arrives before any
    batch that names a new slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["presence_peers"] = "presence_peers"
    full: bool
    """True: ``peers`` is everyone (forget any slot not listed)."""
    peers: Annotated[list[PeerInfo], Field(max_length=PRESENCE_SLOTS)]
    left: Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(max_length=PRESENCE_SLOTS)] = []
