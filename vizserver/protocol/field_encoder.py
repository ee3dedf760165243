"""Encode a stream of field values into frames, once per frame for every client (docs/protocol.md).

A :class:`FieldEncoder` serves one (object, field) stream. Each call quantizes the values once and
returns a :class:`FramePair`: a keyframe and, when a previous frame exists, a delta against it.
The outbox of each client picks which of the two that client can decode, so the server never
encodes per client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zstandard

from vizserver.config import MAX_FIELD_FRAME_BYTES
from vizserver.errors import LimitExceededError
from vizserver.protocol.frames import (
    DELTA,
    FLOAT32_MAX,
    KIND_POINT_FIELD,
    MAX_COMPONENTS,
    NODATA,
    ZSTD,
    Encoding,
    FrameHeader,
)
from vizserver.quantize import quantize

U32_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class FramePair:
    """One encoded frame of stream ``key`` = (object, field), in two forms.

    ``keyframe`` decodes alone; ``delta`` (when not None) decodes only on top of frame ``base``.
    """

    key: tuple[int, int]
    sequence: int
    keyframe: bytes
    delta: bytes | None
    base: int | None


@dataclass(frozen=True, slots=True)
class _Previous:
    sequence: int
    codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]
    nodata: bool


class FieldEncoder:
    """Stateful encoder of one (object, field) stream; remembers the previous frame's codes for deltas.

    ``lo``/``hi`` is the quantization range (rounded to float32, as the header carries it); values
    outside are clamped. Non-finite values set the no-data flag for that frame (NaN on the client);
    a frame whose flag differs from the previous one's is sent as a keyframe only. ``zstd_level``
    None turns compression off; otherwise a payload is compressed only when that makes it smaller.
    Not thread-safe: one producer per encoder.
    """

    def __init__(
        self,
        object_id: int,
        field_id: int,
        *,
        encoding: Encoding = Encoding.U8,
        lo: float,
        hi: float,
        zstd_level: int | None = 1,
        delta: bool = True,
        components: int = 1,
    ) -> None:
        if not (0 <= object_id <= U32_MASK and 0 <= field_id <= U32_MASK):
            raise ValueError(f"object {object_id} / field {field_id} must be u32")
        if not 1 <= components <= MAX_COMPONENTS:
            raise ValueError(f"components must be 1 to {MAX_COMPONENTS}, got {components}")
        self.key = (object_id, field_id)
        self.encoding = Encoding(encoding)
        self.components = components
        self._delta = delta and self.encoding is not Encoding.FLOAT32
        self._compressor = zstandard.ZstdCompressor(level=zstd_level) if zstd_level is not None else None
        self._sequence = -1
        self._previous: _Previous | None = None
        self.lo, self.hi = 0.0, 0.0
        self.set_range(lo, hi)

    def set_range(self, lo: float, hi: float) -> None:
        """Change the quantization range; the next frame is a keyframe only (its codes mean new values)."""
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"range [{lo}, {hi}] must be finite and ordered")
        if max(abs(lo), abs(hi)) > FLOAT32_MAX:
            raise ValueError(f"range [{lo}, {hi}] does not fit float32")
        self.lo, self.hi = float(np.float32(lo)), float(np.float32(hi))
        self._previous = None

    @property
    def sequence(self) -> int:
        """Sequence of the last frame encoded (-1 before the first)."""
        return self._sequence

    def encode(self, values: npt.ArrayLike, *, step: int, time: float) -> FramePair:
        """Frames for ``values`` (``n`` or ``(n, components)`` numbers, in the asset's vertex order)."""
        flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
        if flat.size % self.components:
            raise ValueError(f"{flat.size} values are not a multiple of {self.components} components")
        size = flat.size * self.encoding.itemsize
        if size > MAX_FIELD_FRAME_BYTES:
            raise LimitExceededError(
                f"field {self.key}: frame of {flat.size} values ({size} bytes) is over "
                f"MAX_FIELD_FRAME_BYTES ({MAX_FIELD_FRAME_BYTES})"
            )
        sequence = (self._sequence + 1) & U32_MASK
        if self.encoding is Encoding.FLOAT32:
            keyframe = self._frame(sequence, sequence, step, time, flat.size, 0, flat.astype("<f4", copy=False))
            self._sequence = sequence
            return FramePair(self.key, sequence, keyframe, None, None)

        nodata = not bool(np.isfinite(flat).all())
        codes = quantize(flat, self.lo, self.hi, self.encoding.bits, nodata=nodata)
        if self.encoding is Encoding.U16:
            codes = codes.astype("<u2", copy=False)
        flags = NODATA if nodata else 0
        keyframe = self._frame(sequence, sequence, step, time, codes.size, flags, codes)
        delta: bytes | None = None
        base: int | None = None
        prev = self._previous
        if self._delta and prev is not None and prev.nodata == nodata and prev.codes.size == codes.size:
            diff = codes - prev.codes  # unsigned arrays: wraps mod 2^bits, as the decoder expects
            delta = self._frame(sequence, prev.sequence, step, time, codes.size, flags | DELTA, diff)
            base = prev.sequence
        self._previous = _Previous(sequence, codes, nodata)
        self._sequence = sequence
        return FramePair(self.key, sequence, keyframe, delta, base)

    def _frame(
        self, sequence: int, base: int, step: int, time: float, count: int, flags: int, data: npt.NDArray[np.generic]
    ) -> bytes:
        payload = data.tobytes()
        if self._compressor is not None and payload:
            packed = self._compressor.compress(payload)
            if len(packed) < len(payload):
                payload, flags = packed, flags | ZSTD
        header = FrameHeader(
            kind=KIND_POINT_FIELD,
            encoding=self.encoding,
            flags=flags,
            components=self.components,
            object=self.key[0],
            field=self.key[1],
            sequence=sequence,
            base=base,
            step=step,
            lo=self.lo,
            hi=self.hi,
            time=float(time),
            count=count,
        )
        return header.encode() + payload
