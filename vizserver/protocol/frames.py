"""Binary field frames of protocol v1 (docs/protocol.md, "Field frames"): a 48-byte header, then the payload.

Pure: bytes in, arrays out. :meth:`FrameHeader.decode` and :func:`decode_frame` raise
:class:`~vizserver.protocol.messages.ProtocolError` (code ``bad_frame``, ``too_large`` or
``missing_base``) on anything malformed and never allocate more than the header's own
``count`` allows (at most ``MAX_FIELD_FRAME_BYTES``), whatever a zstd payload claims.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from vizserver.config import MAX_FIELD_FRAME_BYTES
from vizserver.protocol.messages import ErrorCode, ProtocolError
from vizserver.quantize import dequantize

FRAME_MAGIC = b"VZF1"
HEADER = struct.Struct("<4sBBBBIIIIIffdI")
"""magic, kind, encoding|flags, components, reserved, object, field, sequence, base, step, min, max, time, count."""
HEADER_BYTES = HEADER.size  # 48

KIND_POINT_FIELD = 1
"""The only frame kind of v1: one value (or vector) per vertex of an object's asset."""

MAX_COMPONENTS = 4

FLOAT32_MAX = float(np.finfo(np.float32).max)

ENCODING_MASK = 0x0F
DELTA = 0x10
ZSTD = 0x20
NODATA = 0x40
KNOWN_FLAGS = DELTA | ZSTD | NODATA

_ZSTD_SIZE_UNKNOWN = zstandard.CONTENTSIZE_UNKNOWN


class Encoding(IntEnum):
    """Low nibble of the header's encoding byte."""

    FLOAT32 = 0
    U16 = 1
    U8 = 2

    @property
    def itemsize(self) -> int:
        return _ITEMSIZE[self]

    @property
    def bits(self) -> int:
        """Bits per code of a quantized encoding (0 for float32)."""
        return _BITS[self]


_ITEMSIZE = {Encoding.FLOAT32: 4, Encoding.U16: 2, Encoding.U8: 1}
_BITS = {Encoding.FLOAT32: 0, Encoding.U16: 16, Encoding.U8: 8}
_WIRE_DTYPE: dict[Encoding, np.dtype[Any]] = {
    Encoding.FLOAT32: np.dtype("<f4"),
    Encoding.U16: np.dtype("<u2"),
    Encoding.U8: np.dtype("u1"),
}


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FRAME, message)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The 48-byte header. ``flags`` holds DELTA | ZSTD | NODATA; ``lo``/``hi`` are float32 on the wire.

    Constructing one checks every field (a ProtocolError names the first bad one), so a header that
    exists is one a client can decode.
    """

    kind: int
    encoding: Encoding
    flags: int
    components: int
    object: int
    field: int
    sequence: int
    base: int
    step: int
    lo: float
    hi: float
    time: float
    count: int

    def __post_init__(self) -> None:
        if self.kind != KIND_POINT_FIELD:
            raise _bad(f"frame kind {self.kind} unknown (1 = point field)")
        if self.flags & ~KNOWN_FLAGS:
            raise _bad(f"unknown encoding flags 0x{self.flags & ~KNOWN_FLAGS:02x}")
        if self.encoding is Encoding.FLOAT32 and self.flags & (DELTA | NODATA):
            raise _bad("float32 frames cannot be delta-coded or carry a no-data code")
        if not 1 <= self.components <= MAX_COMPONENTS:
            raise _bad(f"{self.components} components (1 to {MAX_COMPONENTS})")
        for name in ("object", "field", "sequence", "base", "step", "count"):
            if not 0 <= getattr(self, name) <= 0xFFFFFFFF:
                raise _bad(f"{name} {getattr(self, name)} is not a u32")
        if self.count % self.components:
            raise _bad(f"count {self.count} is not a multiple of {self.components} components")
        if self.delta == (self.base == self.sequence):
            raise _bad(
                f"sequence {self.sequence} with base {self.base}: a delta frame needs another frame as base, "
                "a keyframe has base == sequence"
            )
        if not (abs(self.lo) <= FLOAT32_MAX and abs(self.hi) <= FLOAT32_MAX and self.lo <= self.hi):
            raise _bad(f"range [{self.lo}, {self.hi}] is not an ordered range of finite float32 values")
        if not math.isfinite(self.time):
            raise _bad(f"time {self.time} is not finite")
        if self.payload_bytes > MAX_FIELD_FRAME_BYTES:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"frame of {self.count} values ({self.payload_bytes} bytes) is over the limit of "
                f"{MAX_FIELD_FRAME_BYTES} bytes",
            )

    @property
    def delta(self) -> bool:
        return bool(self.flags & DELTA)

    @property
    def zstd(self) -> bool:
        return bool(self.flags & ZSTD)

    @property
    def nodata(self) -> bool:
        return bool(self.flags & NODATA)

    @property
    def key(self) -> tuple[int, int]:
        """(object, field): the stream this frame belongs to."""
        return (self.object, self.field)

    @property
    def payload_bytes(self) -> int:
        """Size of the payload once decompressed."""
        return self.count * self.encoding.itemsize

    def encode(self) -> bytes:
        return HEADER.pack(
            FRAME_MAGIC,
            self.kind,
            self.encoding | self.flags,
            self.components,
            0,
            self.object,
            self.field,
            self.sequence,
            self.base,
            self.step,
            self.lo,
            self.hi,
            self.time,
            self.count,
        )

    @classmethod
    def decode(cls, data: bytes | memoryview[int]) -> FrameHeader:
        """The header of a whole frame ``data``; without zstd, also checks the payload length against ``count``."""
        if len(data) < HEADER_BYTES:
            raise _bad(f"frame of {len(data)} bytes is shorter than the {HEADER_BYTES}-byte header")
        (magic, kind, enc, components, reserved, obj, fld, seq, base, step, lo, hi, time, count) = HEADER.unpack_from(
            data
        )
        if magic != FRAME_MAGIC:
            raise _bad(f"bad magic {bytes(magic)!r} (expected {FRAME_MAGIC!r})")
        if reserved != 0:
            raise _bad(f"reserved byte is {reserved}, not 0")
        try:
            encoding = Encoding(enc & ENCODING_MASK)
        except ValueError:
            raise _bad(f"unknown encoding {enc & ENCODING_MASK} (0 float32, 1 u16, 2 u8)") from None
        header = cls(kind, encoding, enc & ~ENCODING_MASK, components, obj, fld, seq, base, step, lo, hi, time, count)
        payload = len(data) - HEADER_BYTES
        if header.zstd:
            if payload == 0 or header.count == 0:
                raise _bad("zstd frame with an empty payload or no values")
        elif payload != header.payload_bytes:
            raise _bad(
                f"payload of {payload} bytes; header says {header.count} x {header.encoding.name.lower()} "
                f"= {header.payload_bytes} bytes"
            )
        return header


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A frame's header and values. ``codes`` (flat, ``count`` long) is None for float32 frames;
    ``values`` is float32, shape ``(n,)`` or ``(n, components)``, NaN where the no-data code is set.
    Keep the last one per (object, field): it is the base the next delta frame needs."""

    header: FrameHeader
    codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | None
    values: npt.NDArray[np.float32]


def decode_frame(data: bytes | memoryview[int], base: DecodedFrame | None = None) -> DecodedFrame:
    """Decode one frame. A delta frame needs ``base``: the decoded frame whose sequence is the header's
    ``base`` (else ProtocolError ``missing_base``: drop the frame and send ``keyframe``)."""
    header = FrameHeader.decode(data)
    payload = memoryview(data)[HEADER_BYTES:]
    raw: bytes | memoryview[int] = _decompress(payload, header.payload_bytes) if header.zstd else payload
    wire = np.frombuffer(raw, dtype=_WIRE_DTYPE[header.encoding], count=header.count)
    codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | None
    if header.encoding is Encoding.FLOAT32:
        codes = None
        values = wire.astype(np.float32)
    else:
        native = np.uint8 if header.encoding is Encoding.U8 else np.uint16
        quantized: npt.NDArray[Any] = wire.astype(native)
        if header.delta:
            quantized = np.add(_base_codes(header, base), quantized, dtype=native)  # unsigned: wraps mod 2^bits
        codes = quantized
        values = dequantize(quantized, header.lo, header.hi, header.encoding.bits, nodata=header.nodata)
    if header.components > 1:
        values = values.reshape(-1, header.components)
    return DecodedFrame(header, codes, values)


def _base_codes(header: FrameHeader, base: DecodedFrame | None) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    if base is None or base.header.key != header.key or base.header.sequence != header.base or base.codes is None:
        held = "none" if base is None else f"frame {base.header.sequence} of {base.header.key}"
        raise ProtocolError(
            ErrorCode.MISSING_BASE,
            f"delta frame {header.sequence} of (object, field) {header.key} needs frame {header.base}; held: {held}",
        )
    b = base.header
    if (b.encoding, b.components, b.count, b.lo, b.hi, b.nodata) != (
        header.encoding,
        header.components,
        header.count,
        header.lo,
        header.hi,
        header.nodata,
    ):
        raise _bad(f"delta frame {header.sequence} does not match its base {b.sequence} (encoding, count or range)")
    return base.codes


def _decompress(payload: memoryview[int], expected: int) -> bytes:
    """Exactly ``expected`` bytes out of one zstd frame, refusing before allocating if the frame claims more."""
    try:
        claimed = zstandard.get_frame_parameters(payload).content_size
    except zstandard.ZstdError as exc:
        raise _bad(f"zstd payload unreadable: {exc}") from None
    if claimed not in (expected, _ZSTD_SIZE_UNKNOWN):
        raise _bad(f"zstd payload claims {claimed} bytes; header says {expected}")
    try:
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=expected, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise _bad(f"zstd payload corrupt or larger than the {expected} bytes the header says: {exc}") from None
    if len(raw) != expected:
        raise _bad(f"zstd payload holds {len(raw)} bytes; header says {expected}")
    return raw
